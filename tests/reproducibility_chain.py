"""One shrunk synth → index → describe → tiny detector → boxes → train → evaluate chain, run as a script.

``python reproducibility_chain.py`` runs the chain in the current working directory, every
path relative as in the DVC pipeline, and MLflow off; its stages compute with
``$FILO_NUM_THREADS`` threads (`filo.kernels`). `tests/test_reproducibility.py` runs it in
fresh processes under different folders and thread counts and compares everything it wrote.
"""

from __future__ import annotations

from pathlib import Path

# Smaller than the demo profile (one texture and one object category per side), its batch sizes.
SYNTH = {"image_size": 64, "n_train_good": 1, "n_test_good": 2, "n_test_per_defect": 1}
CATEGORIES = {"mvtec": ["woven_fabric", "round_part"], "visa": ["wood_grain", "trace_board"]}
TRAIN = {"model_preset": "tiny", "seed": 0, "epochs": 1, "adapter_epochs": 1, "batch_size": 4, "device": "cpu",
         "mlflow": False, "progress": False}
BOX_IMAGE_SIZE = 64


def run_chain() -> None:
    """Write data/, models/ and results/ under the current directory (train on mvtec, evaluate on visa)."""
    from filo.boxes.rules import BoxRules
    from filo.boxes.stage import BoxesSettings, extract_boxes_stage, prepare_detector
    from filo.data.index import index_dataset
    from filo.data.synthetic import generate_dataset
    from filo.descriptions.stage import describe_manifest
    from filo.evaluation.evaluate import evaluate
    from filo.evaluation.settings import EvaluationSettings
    from filo.training import TrainParams, train

    for layout in ("mvtec", "visa"):
        root = Path("data/synth") / layout
        generate_dataset(layout, root, seed=0, categories=CATEGORIES[layout], **SYNTH)
        index_dataset(root, Path("data/manifests") / f"{layout}.parquet", dataset=f"synth_{layout}")
        describe_manifest(Path("data/manifests") / f"{layout}.parquet",
                          Path("data/descriptions") / f"{layout}.json")
    detector = prepare_detector(Path("models/tiny_grounding_dino"))
    extract_boxes_stage("data/manifests/visa.parquet", "data/descriptions/visa.json", detector,
                        "data/boxes/visa.parquet",
                        BoxesSettings(rules=BoxRules(image_size=BOX_IMAGE_SIZE), batch_size=4, device="cpu"))
    train("data/manifests/mvtec.parquet", "data/descriptions/mvtec.json", "models/filo.pt", TrainParams(**TRAIN),
          eval_manifest_path="data/manifests/visa.parquet")
    evaluate("models/filo.pt", "data/manifests/visa.parquet", "data/descriptions/visa.json", "results",
             boxes_path="data/boxes/visa.parquet",
             settings=EvaluationSettings(device="cpu", batch_size=8, gallery_size=2, experiment=None))

if __name__ == "__main__":
    run_chain()
