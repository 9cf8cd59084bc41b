//! (in progress)

/// Placeholder until the permission check lands.
pub fn check_private(_path: &std::path::Path) -> Result<(), std::io::Error> {
    Ok(())
}
