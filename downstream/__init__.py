"""Training on scattering caches: small rotation-equivariant spherical CNNs (Cobb et al., ICLR 2021)
on the cached outputs of the spherical scattering layer (McEwen, Wallis & Mavor-Parker, ICLR 2022).

Modules (import them directly):
    cache, dataset       reading a cache, torch Dataset / DataLoader over one split
    sh_tables            float64 real spherical-harmonic tables on Gauss-Legendre grids
    harmonic_linear      HarmonicLinear: exactly equivariant per-degree channel mixing
    s2_grid              ToS2Grid, FromS2Grid, S2Activation: pointwise nonlinearity on the grid
    invariants           RotationInvariants: means and log power spectra
    normalization        HarmonicNormalization: per-path, per-degree scales fitted on train data
    models               ModelConfig, InvariantMLP, SphericalCNN, build_model
    equivariance         measured equivariance / invariance errors
    transforms           RandomRotation augmentation
    spectrum_baseline    SpectrumClassifier: logistic regression on log binned power spectra
    config, training     TrainConfig, train, evaluate; checkpoint: save / load; plots
    commands             click commands `train` and `evaluate`
"""
