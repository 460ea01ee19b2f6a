//! devserver refuses to serve when the environment cannot initialise, saying which process failed,
//! and leaves nothing running (a function that exits at init, an extension that never registers).

use std::process::Command;

fn devserver(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_devserver"))
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("run devserver");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn a_function_that_exits_during_init_is_reported_by_name() {
    let (ok, output) = devserver(&["--runtime", "/bin/false"]);
    assert!(!ok, "{output}");
    assert!(output.contains("false exited during init"), "{output}");
    assert!(!output.contains("listening"), "{output}");
}

#[test]
fn an_extension_that_exits_without_registering_is_reported_by_name() {
    let (ok, output) = devserver(&["--runtime", "/bin/sleep", "--extension", "/bin/true"]);
    assert!(!ok, "{output}");
    assert!(output.contains("true exited during init"), "{output}");
}

#[test]
fn a_missing_binary_is_reported_with_its_path() {
    let (ok, output) = devserver(&["--runtime", "/nonexistent/bootstrap"]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("cannot start /nonexistent/bootstrap"),
        "{output}"
    );
}
