"""Maps with several fields: their names, which two form a spin-2 pair, and the polarisation
convention (docs/inputs.md section 8, docs/harmonic-conventions.md section 7).

A spin-2 field (CMB polarisation Q + iU, weak-lensing shear gamma1 + i gamma2) changes under a
rotation of the local frame, so its two components are never scattered as two scalar maps: they
are analysed together with spin 2 into gradient (E) and curl (B) coefficients. The harmonic layer
(ducc0, as healpy) uses the COSMO convention; an IAU map has the opposite sign of U (the
polarisation angle measured from north through east instead of through west: Hamaker & Bregman
1996; the Planck and HEALPix documentation), so reading it as COSMO mixes E and B.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import InputError

POL_CONVENTIONS = ("COSMO", "IAU")
KNOWN_PAIRS = (("Q", "U"), ("G1", "G2"), ("GAMMA1", "GAMMA2"))
"""Field names that form a spin-2 pair by themselves (case-insensitive): Stokes Q, U and shear
gamma1, gamma2. Any other pair is declared (``--spin2 A,B``)."""


@dataclass(frozen=True)
class FieldSet:
    """The fields read from each input, in the order given, and the spin-2 pair among them.

    names: the fields as named on the command line (column names, sidecar names, image channels
        R / G / B, or 0-based indices written as text), at least two, unique.
    spin2: indices into `names` of the (first, second) component of the spin-2 pair (Q, U), or None.

    >>> FieldSet.declare(["T", "Q", "U"]).spin2
    (1, 2)
    >>> FieldSet.declare(["T", "Q"])
    Traceback (most recent call last):
    ...
    pipeline.errors.InputError: field 'Q' is one component of the spin-2 pair Q, U: name both (e.g. --fields T,Q,U)
    """

    names: tuple[str, ...]
    spin2: tuple[int, int] | None = None

    @classmethod
    def declare(cls, names, spin2=None) -> "FieldSet":
        """Validate the declared fields; the spin-2 pair is `spin2` (two of `names`) or, when not
        declared, the known pair (KNOWN_PAIRS) among them."""
        names = tuple(str(n) for n in names)
        if len(names) < 2 or any(not n for n in names):
            raise InputError(f"fields must name two or more fields (for one, use field), got {list(names)}")
        upper = [n.upper() for n in names]
        if len(set(upper)) != len(upper):
            raise InputError(f"fields must be unique, got {', '.join(names)}")
        if spin2 is not None:
            pair = tuple(str(n) for n in spin2)
            if len(pair) != 2 or pair[0].upper() == pair[1].upper() or not all(p.upper() in upper for p in pair):
                raise InputError(f"spin2 must name two of the fields ({', '.join(names)}), got {', '.join(pair)}")
            known = [n for n in upper if any(n in k for k in KNOWN_PAIRS) and n not in (p.upper() for p in pair)]
            if known:  # a Q or U left out of the declared pair would be scattered as a scalar map
                raise InputError(f"field {names[upper.index(known[0])]!r} is a component of a spin-2 pair by name, outside the "
                                 f"declared pair {', '.join(pair)}: one map file may hold one pair")
            return cls(names, (upper.index(pair[0].upper()), upper.index(pair[1].upper())))
        found = None
        for first, second in KNOWN_PAIRS:
            present = [n for n in (first, second) if n in upper]
            if len(present) == 1:
                raise InputError(f"field {names[upper.index(present[0])]!r} is one component of the spin-2 pair {first}, {second}: "
                                 f"name both (e.g. --fields T,{first},{second})")
            if present:
                if found is not None:
                    raise InputError(f"fields {', '.join(names)} hold two spin-2 pairs: one map file may hold one")
                found = (upper.index(first), upper.index(second))
        return cls(names, found)

    @property
    def scalars(self) -> tuple[int, ...]:
        """Indices of the spin-0 fields."""
        return tuple(i for i in range(len(self.names)) if not (self.spin2 and i in self.spin2))

    def to_dict(self) -> dict:
        return {"names": list(self.names), "spin2": list(self.spin2) if self.spin2 else None}


def check_pol_convention(found: str | None, declared: str | None, where: str) -> str:
    """The convention of a spin-2 input: the file's (`found`, e.g. the POLCCONV keyword) or the
    declared one; a disagreement, an unknown value, or neither is an InputError."""
    if found is not None:
        found = found.strip().upper()
        if found not in POL_CONVENTIONS:
            raise InputError(f"{where} = {found!r}: expected one of {', '.join(POL_CONVENTIONS)}")
        if declared not in (None, found):
            raise InputError(f"{where} = {found} but the options declare pol_convention {declared}")
        return found
    if declared is None:
        raise InputError(f"a spin-2 pair without a polarisation convention: no {where} in the file; declare pol_convention "
                         f"(--pol-convention COSMO or IAU)")
    return declared
