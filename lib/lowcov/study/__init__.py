"""The case study's experiments, one module per chapter, wired from the stage modules (the notebooks call these).

* :mod:`.original_model` (chapter 3): the stand-in for DeepVariant's published WGS checkpoint;
* :mod:`.pseudo_truth` (chapter 4): the RNA pseudo-truth the case study made with a caller;
* :mod:`.rna_examples` (chapter 5): RNA training examples labelled by it;
* :mod:`.fine_tuning` (chapter 6): the case study's V1 and V2 runs;
* :mod:`.controls` (chapter 6): this book's control runs beside them;
* :mod:`.evaluation` (chapters 3 and 7): calling the test contig and benchmarking the calls;
* :mod:`.deepvariant` (chapters 3-7 on the ``deepvariant`` engine): the same experiments run by DeepVariant's
  images, as the case study ran them; :mod:`.engine_cells`: which engine a chapter runs and which of its
  cells run on it;
* :mod:`.deepvariant_controls` (chapter 6 on the ``deepvariant`` engine): the batch-norm controls on DeepVariant's
  own network, which its ``train`` cannot run;
* :mod:`.example_parity` (chapter 8): DeepVariant's examples against the native make_examples' for the same sites;
* :mod:`.fitted` (chapter 2 and the conclusions): the settings chosen by looking at a target.
"""
