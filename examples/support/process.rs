//! Child processes for the multi-process examples: this very binary, run
//! again in another role, signalled as an orchestrator would.
#![allow(dead_code)]

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A child process of the example.
pub struct Process {
    pub name: String,
    child: Child,
}

impl Process {
    /// Runs this binary again with `args`.
    pub fn spawn(name: &str, args: &[String]) -> Result<Process, Error> {
        let child = Command::new(std::env::current_exe()?)
            .args(args)
            .stdin(Stdio::null())
            .spawn()?;
        Ok(Process {
            name: name.to_owned(),
            child,
        })
    }

    /// Sends SIGTERM, as Kubernetes, Heroku and systemd do.
    pub fn terminate(&self) -> Result<(), Error> {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("could not signal {}", self.name).into())
        }
    }

    /// Waits for the process to end, for at most `limit`.
    pub async fn wait(&mut self, limit: Duration) -> Result<ExitStatus, Error> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > until {
                return Err(format!("{} did not end within {limit:?}", self.name).into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for a clean exit.
    pub async fn finish(&mut self, limit: Duration) -> Result<(), Error> {
        let status = self.wait(limit).await?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} failed: {status}", self.name).into())
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Never leave a child behind, whatever went wrong.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
