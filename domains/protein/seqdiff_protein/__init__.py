"""seqdiff's protein domain: motif scaffolding with RFdiffusion contigs, ESM scoring, a bundled model.

``from seqdiff_protein import ProteinDesigner`` is the Python API (see designer.py); ``DesignConfig``
holds every setting of a run."""

from importlib import import_module

_EXPORTS = {"ProteinDesigner": "designer", "DesignConfig": "design_config", "DesignInputError": "design_config",
            "DesignResult": "records", "DesignRecord": "records", "ContigSpec": "layout", "Layout": "layout",
            "MotifError": "contig"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):  # lazy: keep `seqdiff --help` fast
    if name not in _EXPORTS:
        raise AttributeError(name)
    return getattr(import_module(f"seqdiff_protein.{_EXPORTS[name]}"), name)
