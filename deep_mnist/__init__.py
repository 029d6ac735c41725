"""Everything in deep-mnist that is not the tutorial: the machinery the scripts at the top
of the repository call. The README's map of the files says which module holds what."""
