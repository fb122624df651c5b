//! Reading Java properties files: the worker properties and the REST basic-auth credentials
//! file (connector files are read by `load_connector_file` in the config module).

use std::collections::BTreeMap;
use std::path::Path;

use walcast_connect_api::properties;

use crate::error::ConfigError;

/// Read and parse a Java properties file.
pub fn read_properties_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    properties::parse_map(&properties::decode_bytes(&bytes)).map_err(|source| {
        ConfigError::Properties {
            path: path.to_owned(),
            source,
        }
    })
}
