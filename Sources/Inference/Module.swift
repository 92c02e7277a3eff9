// Inference: model description, weights, forward pass with KV cache, sampling.
