#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    looplab::cli::main()
}

/// The command line is native only; in the browser the page drives src/web.rs.
#[cfg(target_arch = "wasm32")]
fn main() {}
