//! A real SMTP server on 127.0.0.1:0 for the email tests.
//!
//! The protocol is mailin's state machine (the core of mailin-embedded, which cannot be
//! built without its rustls/rustls-pemfile feature), driven by a tokio accept loop: one
//! task per connection reads lines, hands them to the session and writes its answers.
//! There is no TLS, so routes use `tls: none` to loopback, as the configuration allows.
//! AUTH PLAIN and LOGIN are offered in clear text when the server has credentials.
//!
//! A message is recorded before the server answers the final `.`, so once the client's
//! send has returned, the message is already in [`SmtpServer::mails`].
//! [`SmtpServer::start_on`] serves on a given address (a server that comes up after an
//! outage), and can take the first messages and hang up before saying so, the case an
//! idempotent `Message-ID` is for.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `MAIL FROM`.
    pub from: String,
    /// Every `RCPT TO`, in order.
    pub to: Vec<String>,
    /// The DATA, dot-unstuffed.
    pub data: Vec<u8>,
    /// The user that authenticated on this connection, if any.
    pub authenticated_as: Option<String>,
}

/// How the server behaves.
#[derive(Clone, Default)]
pub struct SmtpSettings {
    /// Require AUTH with this user and password. A wrong password is answered `535`
    /// with the password echoed back, so tests can check the client never repeats it.
    pub credentials: Option<(String, String)>,
    /// The answer to every `RCPT TO`; `250 OK` when `None`. (An error at the end of
    /// DATA would leave mailin's session in its DATA state, so rejections are tested
    /// here.)
    pub rcpt: Option<(u16, String)>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    auth_attempts: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start(settings: SmtpSettings) -> SmtpServer {
        SmtpServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), settings, 0).await
    }

    /// [`SmtpServer::start`] on `addr`, such as one a client has been refused at. The
    /// first `unanswered_messages` messages are recorded, then the connection is closed
    /// instead of answering their final `.`: the client cannot know they arrived.
    pub async fn start_on(
        addr: SocketAddr,
        settings: SmtpSettings,
        unanswered_messages: usize,
    ) -> SmtpServer {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let auth_attempts = Arc::new(Mutex::new(0));
        let mut builder = SessionBuilder::new("mailin.test");
        if settings.credentials.is_some() {
            builder
                .enable_auth(AuthMechanism::Plain)
                .enable_auth(AuthMechanism::Login)
                .insecure_enable_plaintext_auth();
        }
        let recorded = mails.clone();
        let attempts = auth_attempts.clone();
        let unanswered = Arc::new(Mutex::new(unanswered_messages));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let handler = Recorder {
                    settings: settings.clone(),
                    mails: recorded.clone(),
                    auth_attempts: attempts.clone(),
                    authenticated_as: None,
                    current: None,
                };
                let builder = builder.clone();
                let connection = Connection {
                    mails: recorded.clone(),
                    unanswered: unanswered.clone(),
                };
                tokio::spawn(serve_connection(
                    stream,
                    peer.ip(),
                    builder,
                    handler,
                    connection,
                ));
            }
        });
        SmtpServer {
            addr,
            mails,
            auth_attempts,
            task,
        }
    }

    /// How many AUTH exchanges clients completed, right or wrong.
    pub fn auth_attempts(&self) -> usize {
        *self.auth_attempts.lock().unwrap()
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().unwrap().clone()
    }
}

/// What a connection shares with the server: the messages, and how many more of them
/// go unanswered.
struct Connection {
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    unanswered: Arc<Mutex<usize>>,
}

async fn serve_connection(
    stream: TcpStream,
    ip: IpAddr,
    builder: SessionBuilder,
    handler: Recorder,
    connection: Connection,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = builder.build(ip, handler);
    let mut out = Vec::new();
    session.greeting().write_to(&mut out).unwrap();
    if write.write_all(&out).await.is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let before = connection.mails.lock().unwrap().len();
        let response = session.process(&line);
        if connection.mails.lock().unwrap().len() > before {
            let mut unanswered = connection.unanswered.lock().unwrap();
            if *unanswered > 0 {
                *unanswered -= 1;
                return;
            }
        }
        match response.action {
            Action::NoReply => continue,
            Action::Reply | Action::Close | Action::UpgradeTls => {
                let mut out = Vec::new();
                response.write_to(&mut out).unwrap();
                if write.write_all(&out).await.is_err() || response.action != Action::Reply {
                    return;
                }
            }
        }
    }
}

struct Recorder {
    settings: SmtpSettings,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    auth_attempts: Arc<Mutex<usize>>,
    authenticated_as: Option<String>,
    current: Option<ReceivedMail>,
}

impl Recorder {
    fn check(&mut self, user: &str, password: &str) -> Response {
        *self.auth_attempts.lock().unwrap() += 1;
        match &self.settings.credentials {
            Some((u, p)) if u == user && p == password => {
                self.authenticated_as = Some(user.to_string());
                mailin::response::AUTH_OK
            }
            _ => Response::custom(535, format!("5.7.8 wrong password {password} for {user}")),
        }
    }
}

impl Handler for Recorder {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(ReceivedMail {
            from: from.to_string(),
            to: to.to_vec(),
            data: Vec::new(),
            authenticated_as: self.authenticated_as.clone(),
        });
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(mail) = &mut self.current {
            mail.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn rcpt(&mut self, _to: &str) -> Response {
        match &self.settings.rcpt {
            Some((code, text)) => Response::custom(*code, text.clone()),
            None => mailin::response::OK,
        }
    }

    fn data_end(&mut self) -> Response {
        if let Some(mail) = self.current.take() {
            self.mails.lock().unwrap().push(mail);
        }
        mailin::response::OK
    }

    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> Response {
        self.check(authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check(username, password)
    }
}

/// A server that accepts connections and never says a word: the SMTP greeting never
/// comes. Connections are held open until the server is dropped.
pub struct SilentServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SilentServer {
    pub async fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        SilentServer { addr, task }
    }
}
