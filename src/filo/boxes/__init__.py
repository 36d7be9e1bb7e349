"""HQ-Loc preliminary localization: Grounding DINO boxes extracted offline into a Parquet cache.

Modules: `detector` (build/load the model), `rules` (authors' box filtering, phrase
matching and 3x3 position), `geometry` (keep masks, position cells), `extract`
(batched, resumable extraction), `artifact` (Parquet schema, `load_boxes`), `source` (the one
interface evaluation and prediction get boxes through: the artifact or a live detector),
`tiny` (a small random-weight detector for the offline demo).
"""
