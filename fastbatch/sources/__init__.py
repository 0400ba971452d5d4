"""Where a loader's rows come from: arrays (in memory, strided, memory-mapped) and Arrow
tables / Hugging Face datasets, each read through one Source interface."""
