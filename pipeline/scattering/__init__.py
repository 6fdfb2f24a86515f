"""Spherical wavelet scattering: configuration -> wavelet filters -> path plan -> transform.

McEwen, Wallis & Mavor-Parker, ICLR 2022; docs/wavelets.md and docs/scattering.md.
"""

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.transform import ScatteringResult, ScatteringTransform, cost_in_sht_pairs, scattering_plan
from pipeline.scattering.wavelets import FilterBank, filter_bank

__all__ = ["ScatteringConfig", "ScatteringResult", "ScatteringTransform", "cost_in_sht_pairs", "scattering_plan",
           "FilterBank", "filter_bank"]
