"""JAX/Flax deep models trained from the feature store.

``config`` (TrainConfig, ModelConfig, presets), ``input_pipeline`` (store -> host batches),
``cache`` (splits cached on the devices or the host, the batches a run trains on),
``models`` (MLP, CNN, fusion, ResNet), ``train`` (jitted steps, loop),
``checkpoints`` (Orbax, resume rules), ``cli`` (the train/transfer command lines),
``transfer`` (new head / fine-tuning on another store), ``input_map`` (feature-config mapping),
``trained`` (export and :func:`~sonicsep.nn.trained.load_trained`), ``embedding`` (similarity).
Submodules are imported explicitly, so ``import sonicsep.nn`` does not import JAX.
"""
