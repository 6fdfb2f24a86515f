"""Spherical wavelet scattering: configuration -> wavelet filters -> plan -> transform.

McEwen, Wallis & Mavor-Parker, ICLR 2022; docs/wavelets.md and docs/scattering.md.
"""

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.plan import Channel, ScatteringPlan, cost_in_sht_pairs, scattering_plan
from pipeline.scattering.transform import ScatteringResult, ScatteringTransform
from pipeline.scattering.wavelets import FilterBank, filter_bank

__all__ = ["Channel", "ScatteringConfig", "ScatteringPlan", "ScatteringResult", "ScatteringTransform", "cost_in_sht_pairs",
           "scattering_plan", "FilterBank", "filter_bank"]
