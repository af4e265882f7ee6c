"""Using a trained model outside the pipeline: the `ser` command (`cli`), a model of any family
back in memory (`load.load_trained`, the families' classes in `trained`), recordings scored
(`predict`) and exported for other runtimes (`export.export_model`; each family's export in
`export_torch`, `export_linear`, `export_fusion`).

Nothing is imported here, so that `ser --help` starts without torch.
"""
