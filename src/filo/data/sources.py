"""Where the real datasets come from: download URL, archive name and the SHA-256 that identifies them.

The checksum is the identity of a dataset; the URL is only where it currently lives (MVTec
AD's has moved before), so callers may pass another URL for the same checksum. The values
were taken from the datasets' official pages and could not be re-checked from the build
machine (no network); a moved or changed file shows up as a download or checksum error.
"""

from __future__ import annotations

from dataclasses import dataclass

from filo.errors import FiloError


@dataclass(frozen=True)
class DatasetSource:
    """One downloadable dataset archive."""

    name: str
    url: str
    sha256: str
    archive_name: str
    layout: str
    homepage: str
    """Where a person downloads the archive by hand (the license is accepted there)."""
    archive_gib: float
    extracted_gib: float
    """Approximate sizes, for the disk-space check of `filo doctor` (not measured here)."""
    images: int
    """Images of every split (what the index stage reads), for the rehearsal's full-run estimate."""
    test_images: int
    """Test images (MVTec AD's test split, VisA's 1cls test split: what boxes, training and evaluation read)."""
    good_test_images: int
    """Normal test images (what registration scores to recalibrate a verdict)."""


SOURCES: dict[str, DatasetSource] = {
    "mvtec": DatasetSource(
        name="mvtec",
        url=(
            "https://www.mydrive.ch/shares/150996/b52ecdcbf521176e9db9c731f2304b27/download/"
            "420938113-1629960298/mvtec_anomaly_detection.tar.xz"
        ),
        sha256="cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d",
        archive_name="mvtec_anomaly_detection.tar.xz",
        layout="mvtec",
        homepage="https://www.mvtec.com/company/research/datasets/mvtec-ad",
        archive_gib=4.9,
        extracted_gib=5.3,
        images=5354,
        test_images=1725,
        good_test_images=467,
    ),
    "visa": DatasetSource(
        name="visa",
        url="https://amazon-visual-anomaly.s3.us-west-2.amazonaws.com/VisA_20220922.tar",
        sha256="2eb8690c803ab37de0324772964100169ec8ba1fa3f7e94291c9ca673f40f362",
        archive_name="VisA_20220922.tar",
        layout="visa",
        homepage="https://github.com/amazon-science/spot-diff",
        archive_gib=1.8,
        extracted_gib=1.9,
        images=10821,
        test_images=2162,
        good_test_images=962,
    ),
}


def get_source(name: str) -> DatasetSource:
    """The source of a known dataset, or a FiloError listing the known names."""
    try:
        return SOURCES[name]
    except KeyError:
        raise FiloError(f"unknown dataset {name!r}; downloadable datasets are {sorted(SOURCES)}") from None
