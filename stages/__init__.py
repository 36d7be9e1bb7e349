"""The `filo` subcommands: one module per command; a pipeline stage's module registers the stage's declaration
(`filo.stagespec.StageSpec`, next to its library function), the others parse their own arguments."""
