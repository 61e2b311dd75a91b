//! Shared by the CLI tests: run the real `passerelle` binary and read what it printed.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON document stdout must hold.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// `{"error": {"kind": …, "message": …}}`: the kind and the message.
    pub fn json_error(&self) -> (String, String) {
        let v = self.json();
        let e = &v["error"];
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{v}");
        (
            e["kind"].as_str().expect("error kind").to_string(),
            e["message"].as_str().expect("error message").to_string(),
        )
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    c.current_dir(dir)
        .args(args)
        .env_remove("PASSERELLE_CREDENTIAL");
    c
}

pub fn run(dir: &Path, args: &[&str]) -> Run {
    from_output(command(dir, args).output().expect("run passerelle"))
}

pub fn from_output(out: Output) -> Run {
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The example federation's spec and its nodes, started under `dir/fed`.
pub async fn example_federation(
    dir: &Path,
) -> (cli::harness::ExampleSpec, cli::harness::ExampleFederation) {
    let spec = cli::harness::ExampleSpec::load().unwrap();
    let fed = cli::harness::ExampleFederation::create(&dir.join("fed"), &spec)
        .await
        .unwrap();
    (spec, fed)
}
