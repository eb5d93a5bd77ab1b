//! Every engine and every kernel path through one conformance suite
//! (`urisc_model::testing::conformance`), against burn as the reference implementation. Each
//! path is a value the CPU engine is given (`FastSegmenter::with_kernels`): nothing switched
//! process-wide.
#![cfg(feature = "burn")]

use burn::prelude::*;
use urisc_cpu::{available_kernel_paths, KernelPath, Kernels};
use urisc_model::testing::conformance;
use urisc_nn::burn;
use urisc_nn::{
    from_cpu_net, save_model, seeded_net, Architecture, BurnSegmenter, Engine, FastSegmenter,
    ModelConfig, ModelDescriptor, SegmentationNet, Segmenter,
};

#[test]
fn every_engine_and_kernel_path_conforms() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for architecture in [Architecture::Unet, Architecture::ResUnet] {
        let config = ModelConfig {
            architecture,
            base_width: 4,
            depth: 3,
            coarse: None,
        };
        let net = seeded_net(&config, 3).unwrap();
        let descriptor = ModelDescriptor::new(config.clone(), 32);
        let reference = BurnSegmenter::new(
            from_cpu_net(SegmentationNet::new(&config, &device), &net),
            descriptor.clone(),
            &device,
        );
        let path = dir.path().join(format!("{architecture:?}.safetensors"));
        save_model(&path, &net, &descriptor, true).unwrap();

        let paths = available_kernel_paths();
        if !paths.contains(&KernelPath::Avx512) {
            eprintln!("skipped the avx512 kernel path: this CPU does not have it");
        }
        // Each path with the default algorithm (`URISC_CONV`).
        let algorithm = Kernels::default().algorithm();
        for kernel_path in paths {
            let kernels = Kernels::new(kernel_path, algorithm).unwrap();
            let fast =
                FastSegmenter::from_cpu_net(net.clone(), descriptor.clone()).with_kernels(kernels);
            conformance(&fast, &reference, 1e-4)
                .unwrap_or_else(|e| panic!("{architecture:?}, cpu engine, {kernels:?}: {e}"));
            let loaded = FastSegmenter::load(&path).unwrap().with_kernels(kernels);
            conformance(&loaded, &reference, 1e-4).unwrap_or_else(|e| {
                panic!("{architecture:?}, cpu engine from a file, {kernels:?}: {e}")
            });
        }
        // The cpu engine as `Segmenter` opens it: on the default kernels.
        let loaded = Segmenter::load(&path, Engine::Cpu).unwrap();
        conformance(&loaded, &reference, 1e-4)
            .unwrap_or_else(|e| panic!("{architecture:?}, cpu engine from a file: {e}"));
        // The burn engine against urisc's portable kernels (and so against itself).
        let loaded = Segmenter::load(&path, Engine::Burn).unwrap();
        conformance(&loaded, &reference, 1e-5)
            .unwrap_or_else(|e| panic!("{architecture:?}, burn engine: {e}"));
    }
}
