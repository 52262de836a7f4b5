"""What can be ordered: processes, the materials each process prints, finishes and
certifications. A job's process/material pair must appear in PROCESS_MATERIALS."""

from django.db import models


class Process(models.TextChoices):
    FDM = "fdm", "FDM (fused deposition modelling)"
    SLA = "sla", "SLA (stereolithography)"
    SLS = "sls", "SLS (selective laser sintering)"
    MJF = "mjf", "MJF (Multi Jet Fusion)"
    DMLS = "dmls", "DMLS / SLM (metal powder bed fusion)"
    BINDER_JETTING = "binder_jetting", "Binder jetting"


class Material(models.TextChoices):
    PLA = "pla", "PLA"
    PETG = "petg", "PETG"
    ABS = "abs", "ABS"
    ASA = "asa", "ASA"
    PA12_CF = "pa12_cf", "PA12 carbon-fibre filled"
    PEEK = "peek", "PEEK"
    ULTEM_9085 = "ultem_9085", "ULTEM 9085"
    TPU = "tpu", "TPU"
    STANDARD_RESIN = "standard_resin", "Standard resin"
    TOUGH_RESIN = "tough_resin", "Tough resin"
    HIGH_TEMP_RESIN = "high_temp_resin", "High-temperature resin"
    BIOCOMPATIBLE_RESIN = "biocompatible_resin", "Biocompatible resin"
    PA11 = "pa11", "PA11"
    PA12 = "pa12", "PA12"
    PA12_GF = "pa12_gf", "PA12 glass-bead filled"
    PP = "pp", "Polypropylene"
    TI6AL4V = "ti6al4v", "Titanium Ti6Al4V"
    SS316L = "ss316l", "Stainless steel 316L"
    SS17_4PH = "ss17_4ph", "Stainless steel 17-4 PH"
    ALSI10MG = "alsi10mg", "Aluminium AlSi10Mg"
    IN718 = "in718", "Inconel 718"
    SAND = "sand", "Silica sand"


PROCESS_MATERIALS: dict[str, frozenset[str]] = {
    Process.FDM: frozenset(
        {
            Material.PLA,
            Material.PETG,
            Material.ABS,
            Material.ASA,
            Material.PA12_CF,
            Material.PEEK,
            Material.ULTEM_9085,
            Material.TPU,
        }
    ),
    Process.SLA: frozenset(
        {
            Material.STANDARD_RESIN,
            Material.TOUGH_RESIN,
            Material.HIGH_TEMP_RESIN,
            Material.BIOCOMPATIBLE_RESIN,
        }
    ),
    Process.SLS: frozenset({Material.PA11, Material.PA12, Material.PA12_GF, Material.TPU}),
    Process.MJF: frozenset(
        {Material.PA11, Material.PA12, Material.PA12_GF, Material.PP, Material.TPU}
    ),
    Process.DMLS: frozenset(
        {Material.TI6AL4V, Material.SS316L, Material.SS17_4PH, Material.ALSI10MG, Material.IN718}
    ),
    Process.BINDER_JETTING: frozenset({Material.SS316L, Material.SS17_4PH, Material.SAND}),
}


class Finish(models.TextChoices):
    AS_PRINTED = "as_printed", "As printed (supports removed)"
    SANDED = "sanded", "Sanded / bead blasted"
    DYED = "dyed", "Dyed"
    PAINTED = "painted", "Painted"
    POLISHED = "polished", "Polished"
    MACHINED = "machined", "Critical faces machined"


class Certification(models.TextChoices):
    ISO_9001 = "iso_9001", "ISO 9001"
    AS9100 = "as9100", "AS9100 (aerospace)"
    ISO_13485 = "iso_13485", "ISO 13485 (medical devices)"
    IATF_16949 = "iatf_16949", "IATF 16949 (automotive)"
    ISO_14001 = "iso_14001", "ISO 14001 (environmental)"


def material_allowed(process: str, material: str) -> bool:
    return material in PROCESS_MATERIALS.get(process, frozenset())
