"""Training on scattering caches: small rotation-equivariant spherical CNNs (Cobb et al., ICLR 2021)
on the cached outputs of the spherical scattering layer (McEwen, Wallis & Mavor-Parker, ICLR 2022).

Subpackages (import them directly; nothing is imported here, so ``import downstream`` stays cheap):
    data     the cache index and splits (``index``), a torch Dataset / DataLoader over one split
             (``dataset``), rotation augmentation (``augment``)
    nn       float64 real spherical-harmonic tables (``sh_tables``), HarmonicLinear, ToS2Grid /
             FromS2Grid / S2Activation (``s2_grid``), RotationInvariants, HarmonicNormalization,
             the models (``models``) and measured equivariance (``equivariance``)
    train    TrainConfig (``config``), train / evaluate (``training``), checkpoints, figures, the
             click commands ``train`` and ``evaluate``
    cmb      the CMB experiment (``experiment``), its spectrum baseline and its report
    digits   the 360-degree digits experiment, its planar baseline and its report
    lensing  the weak-lensing experiment: shear statistics, both spin-2 routes, its report
    reproduce  the experiments' click commands (scatter-reproduce-cmb / -digits / -lensing)
"""
