// swift-tools-version:6.0
// hayai: a Swift workbench for small LLMs. Layers (see README "Architecture"), each importing only
// those below it: CKernels/Kernels → Checkpoints → Tokenizers → Inference → (Training, Evaluation,
// Chat, RunStore) → the `hayai` executable.
import PackageDescription

// Kernels need FMA and F16C from the compiler; without them every fma and Float16 conversion is a
// library call (10–20× slower). CPUs without AVX2 are refused at start-up (`hayai` exits 1, one line).
let simdFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v3"])]
// -Ounchecked (no bounds or overflow checks) only for the kernels. Everything else, and every parser
// of input a user hands in (GGUF, safetensors, tokenizer, JSONL, YAML), keeps its checks: with
// Inference and Training unchecked too, bench and a training run were no faster (README, "Release settings").
let kernelsRelease: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
let release: [SwiftSetting] = []

let package = Package(
    name: "hayai",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hayai", targets: ["hayai"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The dashboard's HTTP server: ~17 s clean debug build here, against Hummingbird's ~230 s.
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/stencilproject/Stencil", from: "0.15.1"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        // The small helpers every layer shares, once: JSON literals, the seeded generator, durations, JSONL reading.
        .target(name: "Basics"),
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-mf16c"])]
        ),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: simdFlags + kernelsRelease),
        .target(name: "Checkpoints", dependencies: ["Kernels", "Basics"], swiftSettings: simdFlags + release),
        .target(name: "Tokenizers", dependencies: ["Checkpoints", "Basics"], swiftSettings: release),
        .target(name: "Inference", dependencies: ["Kernels", "Checkpoints", "Tokenizers", "Basics"], swiftSettings: simdFlags + release),
        .target(name: "Training", dependencies: ["Kernels", "Checkpoints", "Tokenizers", "Inference", "Corpus", "Basics"], swiftSettings: simdFlags + release),
        .target(name: "Corpus", dependencies: ["Tokenizers", "Checkpoints", "Basics"], swiftSettings: release),
        .target(name: "RunStore", dependencies: ["Basics", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: release),
        .target(name: "Dashboard", dependencies: ["RunStore", "Basics", .product(name: "FlyingFox", package: "FlyingFox")], swiftSettings: release),
        .target(
            name: "Evaluation",
            dependencies: ["Inference", "Tokenizers", "Basics", "Yams", .product(name: "Stencil", package: "Stencil")],
            swiftSettings: release
        ),
        .target(name: "Chat", dependencies: ["Inference", "Tokenizers", "Checkpoints"], swiftSettings: release),
        // What commands do (eval runs, pretraining and fine-tuning jobs, corpus and tokenizer jobs, comparisons, the
        // quickstart's stages, the run recorder), for the executable and tests.
        .target(
            name: "Workbench",
            dependencies: ["Inference", "Training", "Evaluation", "Chat", "Corpus", "RunStore", "Checkpoints", "Kernels", "Tokenizers", "Basics"],
            swiftSettings: release
        ),
        // `hayai serve`: the OpenAI-compatible server in front of one model (FlyingFox), and the client that
        // scores a model served elsewhere through the same API.
        .target(
            name: "Serving",
            dependencies: ["Inference", "Chat", "Evaluation", "Tokenizers", "Kernels", "Basics", .product(name: "FlyingFox", package: "FlyingFox")],
            swiftSettings: release
        ),
        .systemLibrary(name: "CLibEdit", path: "Sources/CLibEdit"),
        .executableTarget(
            name: "hayai",
            dependencies: [
                "Workbench", "Inference", "Training", "Evaluation", "Chat", "Corpus", "RunStore", "Dashboard", "Serving", "Checkpoints", "Tokenizers",
                "Kernels", "Basics", "CLibEdit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: release
        ),
        // The fuzz targets (Fuzz/README.md): a replay tool in ordinary builds, libFuzzer's driver under scripts/fuzz.
        .executableTarget(
            name: "hayai-fuzz",
            dependencies: ["Basics", "Checkpoints", "Tokenizers", "Inference", "Evaluation", "Chat", "RunStore", "Serving"],
            path: "Fuzz",
            exclude: ["README.md"]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"], swiftSettings: simdFlags),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "TestSupport"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Checkpoints", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Checkpoints", "Tokenizers", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Inference", "Checkpoints", "Corpus", "Basics", "TestSupport"], swiftSettings: simdFlags),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Inference", "Basics", "TestSupport"]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "Tokenizers", "TestSupport"]),
        .testTarget(name: "HayaiCLITests", dependencies: ["Basics", "TestSupport"]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "RunStore", "Workbench", "hayai", "TestSupport"]),
        .testTarget(name: "ChatTests", dependencies: ["Chat", "Inference", "Tokenizers", "Checkpoints", "TestSupport"]),
        .testTarget(name: "ServingTests", dependencies: ["Serving", "Inference", "Evaluation", "Chat", "Kernels", "Basics", "Workbench", "RunStore", "TestSupport"]),
        .testTarget(name: "WorkbenchTests", dependencies: ["Workbench", "Evaluation", "RunStore", "Inference", "Kernels", "Tokenizers", "Training",
                                                            "Checkpoints", "Basics", .product(name: "GRDB", package: "GRDB.swift"), "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
