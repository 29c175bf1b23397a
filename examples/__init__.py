"""The sample changes, governance files, golden sets and model repository, shipped as package data
(``changeflow.examples``); ``changeflow examples DIR`` copies them somewhere to edit."""
