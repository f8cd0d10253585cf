//! The upstream server, whichever way it is reached, as the router ends
//! it: a child process (stdio) or a Streamable HTTP session.

use super::http_upstream::HttpSession;
use super::upstream;
use tokio::process::Child;

pub enum Server {
    Process(Child),
    Http(HttpSession),
}

impl Server {
    /// Ends the server: a process is given its grace, then killed, and
    /// reaped; an HTTP session is ended (DELETE). The proxy's exit code
    /// for it: a process's status, 0 for HTTP (no process to report).
    pub async fn end(self) -> Option<i32> {
        match self {
            Server::Process(mut child) => upstream::end(&mut child).await.map(upstream::exit_code),
            Server::Http(session) => {
                session.end().await;
                Some(0)
            }
        }
    }
}
