"""seqdiff's protein domain: motif scaffolding with RFdiffusion contigs, ESM scoring, a bundled model.

``from seqdiff_protein import ProteinDesigner`` is the Python API (see api.py)."""

__all__ = ["ProteinDesigner", "ContigSpec"]


def __getattr__(name):  # lazy: keep `seqdiff --help` fast
    if name == "ProteinDesigner":
        from seqdiff_protein.api import ProteinDesigner

        return ProteinDesigner
    if name == "ContigSpec":
        from seqdiff_protein.motif import ContigSpec

        return ContigSpec
    raise AttributeError(name)
