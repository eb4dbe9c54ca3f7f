"""Reading motif residues from a structure file (PDB or mmCIF, plain or gzipped) with Biopython."""

from __future__ import annotations

from pathlib import Path

from seqdiff_protein.contig import MotifError


def read_structure(path: str | Path) -> dict[tuple[str, int], str]:
    """(chain, author resnum) -> one-letter residue for the first model of a PDB or mmCIF file.

    Insertion-code residues are skipped; modified residues map to their parent (MSE -> M) where
    Biopython knows it; residues that are not amino acids (waters, ligands) are ignored."""
    import warnings

    from Bio.Data.PDBData import protein_letters_3to1_extended
    from Bio.PDB import MMCIFParser, PDBParser

    path = Path(path)
    if path.is_dir():
        raise MotifError(f"--pdb {str(path)!r} is a folder; give a PDB or mmCIF file, e.g. --pdb 5TPN.pdb", field="pdb")
    if not path.is_file():
        raise MotifError(f"--pdb {str(path)!r} does not exist; give a PDB or mmCIF file, e.g. --pdb 5TPN.pdb", field="pdb")
    name = path.name.lower().removesuffix(".gz")
    cif = name.endswith((".cif", ".mmcif"))
    try:
        text = _read_text(path)
        import io

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = MMCIFParser(QUIET=True) if cif else PDBParser(QUIET=True)
            structure = parser.get_structure(path.stem, io.StringIO(text))
        model = next(iter(structure), None)
        if model is None:
            raise ValueError("no atoms (is it a structure file?)")
    except Exception as err:  # Biopython raises many types for malformed files
        raise MotifError(f"cannot read --pdb {str(path)!r} as {'mmCIF' if cif else 'PDB'}: "
                         f"{type(err).__name__}: {err}; give a PDB or mmCIF file, e.g. --pdb 5TPN.pdb or --pdb 5tpn.cif") from None
    residues: dict[tuple[str, int], str] = {}
    for chain in model:
        for res in chain:
            het, resnum, icode = res.id
            if icode.strip():
                continue
            letter = protein_letters_3to1_extended.get(res.get_resname().strip().upper().capitalize()) or \
                protein_letters_3to1_extended.get(res.get_resname().strip().upper())
            if letter is None:
                continue
            residues[(chain.id, int(resnum))] = letter
    if not residues:
        raise MotifError(f"--pdb {str(path)!r} has no amino-acid residues; give a protein structure, e.g. --pdb 5TPN.pdb")
    return residues


def _read_text(path: Path) -> str:
    import gzip

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")
