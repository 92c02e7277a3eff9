// Tokenizers: byte-level BPE (tokenizer.json, GGUF gpt2) and SentencePiece-style (GGUF llama) tokenizers.
