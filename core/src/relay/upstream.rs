//! The MCP server as a child process on stdio: its stdin and stdout are
//! the relay's, its stderr is the proxy's own (passed through untouched).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a server may take to exit once its stdin is closed, before it
/// is killed: less than the 2 s a host (the MCP SDK) gives the proxy
/// itself before it sends SIGTERM.
pub const EXIT_GRACE: Duration = Duration::from_millis(1500);

pub struct Upstream {
    pub child: Child,
    pub stdin: ServerInput,
    pub stdout: ChildStdout,
}

/// The server's stdin, written without a wake-up per message read
/// ([`QuietWriter`](super::quiet_writer::QuietWriter)).
#[cfg(unix)]
pub type ServerInput = super::quiet_writer::QuietWriter;
#[cfg(not(unix))]
pub type ServerInput = ChildStdin;

#[cfg(unix)]
fn server_input(stdin: ChildStdin) -> std::io::Result<ServerInput> {
    super::quiet_writer::QuietWriter::new(stdin.into_owned_fd()?)
}

#[cfg(not(unix))]
fn server_input(stdin: ChildStdin) -> std::io::Result<ServerInput> {
    Ok(stdin)
}

/// Starts the server. The child is killed if the relay drops it, and on
/// Linux also if the proxy process dies without a chance to (a signal).
pub fn spawn(command: &[String]) -> Result<Upstream, String> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr_for_child())
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the MCP server {:?}: {e}", command[0]))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("cannot start the MCP server: its stdio could not be opened".into());
    };
    let stdin = server_input(stdin)
        .map_err(|e| format!("cannot start the MCP server: its stdin could not be set up: {e}"))?;
    Ok(Upstream {
        child,
        stdin,
        stdout,
    })
}

/// The proxy's own stderr, for the server. Not `Stdio::inherit()`: Node
/// marks its stdio close-on-exec at start (libuv), so an inherited fd 2
/// would be closed in the child; a duplicate is set up as the child's fd 2.
#[cfg(unix)]
fn stderr_for_child() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::inherit(),
    }
}

#[cfg(not(unix))]
fn stderr_for_child() -> Stdio {
    Stdio::inherit()
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (prctl, getppid).
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// The proxy's exit code for the server's exit: its code, or 128 + the
/// signal that ended it (as a shell reports it).
pub fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

/// Ends the server: waits up to [`EXIT_GRACE`] after its stdin closed,
/// then kills it; reaps it either way (no zombie).
pub async fn end(child: &mut Child) -> Option<ExitStatus> {
    match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    }
}
