//! The seeded watershed against scikit-image's `watershed(image, markers, connectivity=1)`,
//! pixel for pixel, on continuous levels, plateaus and a flat image (fixtures written by
//! `bench/cells/reference.py`).

use std::path::PathBuf;

use urisc_cells::seeded_watershed;

#[test]
fn watershed_matches_scikit_image() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/instances/watershed.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vec_u = |x: &serde_json::Value| -> Vec<u64> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (h, w) = (
            case["height"].as_u64().unwrap() as usize,
            case["width"].as_u64().unwrap() as usize,
        );
        let levels: Vec<u16> = vec_u(&case["levels"])
            .into_iter()
            .map(|x| x as u16)
            .collect();
        let mut labels: Vec<u32> = vec_u(&case["markers"])
            .into_iter()
            .map(|x| x as u32)
            .collect();
        let want: Vec<u32> = vec_u(&case["labels"])
            .into_iter()
            .map(|x| x as u32)
            .collect();
        seeded_watershed(h, w, &levels, &mut labels, None);
        let differ = labels.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{name}: {differ} of {} pixels differ", h * w);
    }
}
