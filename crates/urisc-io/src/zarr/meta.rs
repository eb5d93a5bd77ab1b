//! OME-Zarr metadata urisc writes and recognises: the image group's `zarr.json`
//! ([`group_metadata`]) and the mark of membrane probabilities ([`mark_membrane_probability`],
//! [`marks_membrane_probability`]). A leaf of the `zarr` module, used by the reader and both
//! writers; public through [`crate::zarr_store`].

/// The OME-Zarr group metadata of an image named `name` with the given pixel size.
pub fn group_metadata(name: &str, three_d: bool, pixel_size_nm: Option<f64>) -> serde_json::Value {
    let scale = pixel_size_nm.unwrap_or(1.0);
    let unit = if pixel_size_nm.is_some() {
        "nanometer"
    } else {
        "pixel"
    };
    let mut axes = vec![
        serde_json::json!({"name": "y", "type": "space", "unit": unit}),
        serde_json::json!({"name": "x", "type": "space", "unit": unit}),
    ];
    let mut scales = vec![scale, scale];
    if three_d {
        axes.insert(0, serde_json::json!({"name": "z", "type": "space"}));
        scales.insert(0, 1.0);
    }
    serde_json::json!({
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {"ome": {
            "version": "0.5",
            "multiscales": [{
                "name": name,
                "axes": axes,
                "datasets": [{
                    "path": "0",
                    "coordinateTransformations": [{"type": "scale", "scale": scales}]
                }]
            }]
        }}
    })
}

/// Marks OME-Zarr metadata as holding membrane probabilities p (1 = membrane), the opposite of
/// the membrane-dark convention of urisc's 8-bit maps: the attribute
/// `"urisc": {"values": "membrane-probability"}` in the image group's `zarr.json` and in its
/// array's (so the array folder opened on its own says so too). Only for float arrays.
pub fn mark_membrane_probability(group: &mut serde_json::Value, array: &mut serde_json::Value) {
    for meta in [group, array] {
        if !meta["attributes"].is_object() {
            meta["attributes"] = serde_json::json!({});
        }
        meta["attributes"]["urisc"] = serde_json::json!({"values": "membrane-probability"});
    }
}

/// Whether a `zarr.json`'s attributes carry [`mark_membrane_probability`]'s mark.
pub fn marks_membrane_probability(meta: &serde_json::Value) -> bool {
    meta["attributes"]["urisc"]["values"] == "membrane-probability"
}
