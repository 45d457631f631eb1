"""The trained scorer's shipped artefacts (model files and their cards), found by the import system.

This directory is installed as the package `scorer.models` (pyproject.toml) so that
`scorer.scoring.DEFAULT_MODEL` resolves the same way in a checkout and in an installed wheel.
"""
