// Checkpoints: safetensors and GGUF files, Hugging Face config files.
