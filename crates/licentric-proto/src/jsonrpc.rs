//! JSON-RPC 2.0 envelopes: [`Request`] (a notification when it has no id), [`Response`] and
//! [`RpcError`].

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ErrorCode;

/// The `"jsonrpc": "2.0"` member: serialises as `"2.0"` and refuses anything else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TwoPointZero;

impl Serialize for TwoPointZero {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for TwoPointZero {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let version = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if version == "2.0" {
            Ok(TwoPointZero)
        } else {
            Err(de::Error::invalid_value(
                de::Unexpected::Str(&version),
                &"\"2.0\"",
            ))
        }
    }
}

/// A request id: a number or a string, chosen by the client and echoed in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id.
    Number(i64),
    /// A string id.
    String(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A request, or a notification when `id` is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: TwoPointZero,
    /// Absent for a notification, which gets no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    /// The method name.
    pub method: String,
    /// The parameters, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// A notification (no id, no answer), as the agent sends `status_changed`.
    pub fn notification(method: impl Into<String>, params: Option<Value>) -> Request {
        Request {
            jsonrpc: TwoPointZero,
            id: None,
            method: method.into(),
            params,
        }
    }
}

/// The outcome carried by a [`Response`]: exactly one of `result` and `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The method's result.
    #[serde(rename = "result")]
    Result(Value),
    /// Why the method failed.
    #[serde(rename = "error")]
    Error(RpcError),
}

/// An answer to a [`Request`] that had an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawResponse")]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: TwoPointZero,
    /// The request's id; `null` when the request could not be read far enough to know it.
    pub id: Option<Id>,
    /// The result or the error.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The wire shape of a response, checked into a [`Response`] so that an answer with both
/// `result` and `error`, or with neither, is refused rather than half-read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponse {
    jsonrpc: TwoPointZero,
    id: Option<Id>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// Deserialises a member that is present, `null` included, as `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl TryFrom<RawResponse> for Response {
    type Error = &'static str;

    fn try_from(raw: RawResponse) -> Result<Self, Self::Error> {
        let outcome = match (raw.result, raw.error) {
            (Some(result), None) => Outcome::Result(result),
            (None, Some(error)) => Outcome::Error(error),
            (Some(_), Some(_)) => return Err("a response has both `result` and `error`"),
            (None, None) => return Err("a response has neither `result` nor `error`"),
        };
        Ok(Response {
            jsonrpc: raw.jsonrpc,
            id: raw.id,
            outcome,
        })
    }
}

impl Response {
    /// A successful answer.
    pub fn result(id: Option<Id>, result: Value) -> Response {
        Response {
            jsonrpc: TwoPointZero,
            id,
            outcome: Outcome::Result(result),
        }
    }

    /// A failed answer.
    pub fn error(id: Option<Id>, error: RpcError) -> Response {
        Response {
            jsonrpc: TwoPointZero,
            id,
            outcome: Outcome::Error(error),
        }
    }
}

/// A message the agent sends to a client: an answer or a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerMessage {
    /// A notification such as `status_changed` (it has a `method`).
    Notification(Request),
    /// An answer to one of the client's requests.
    Response(Response),
}

/// The `error` member of a failed [`Response`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcError {
    /// The JSON-RPC number ([`ErrorCode::rpc_code`]).
    pub code: i64,
    /// A sentence for people. Never match on it.
    pub message: String,
    /// The stable code to match on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

/// The `error.data` member: the stable code, and a finer reason where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorData {
    /// An [`ErrorCode`] string. Kept as a string so that a client reading a newer agent's
    /// code does not fail to parse the answer.
    pub code: String,
    /// A finer, stable code: the API's error code for `server_rejected`, the verification code
    /// for `license_file_invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RpcError {
    /// An error with `code`'s number and string and the given message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RpcError {
        RpcError {
            code: code.rpc_code(),
            message: message.into(),
            data: Some(ErrorData {
                code: code.as_str().to_owned(),
                reason: None,
            }),
        }
    }

    /// The same error with a finer reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> RpcError {
        if let Some(data) = &mut self.data {
            data.reason = Some(reason.into());
        }
        self
    }

    /// The stable code, if the agent sent one this client knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.data
            .as_ref()
            .and_then(|d| ErrorCode::from_name(&d.code))
    }

    /// The finer reason, if any.
    pub fn reason(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.reason.as_deref())
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.data {
            Some(data) => write!(f, "{} ({})", self.message, data.code),
            None => write!(f, "{} ({})", self.message, self.code),
        }
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_other_than_two_point_zero_is_refused() {
        let bad = json!({"jsonrpc": "1.0", "id": 1, "method": "status"});
        assert!(serde_json::from_value::<Request>(bad).is_err());
        let missing = json!({"id": 1, "method": "status"});
        assert!(serde_json::from_value::<Request>(missing).is_err());
    }

    #[test]
    fn response_has_exactly_one_of_result_and_error() {
        let ok = serde_json::to_value(Response::result(Some(Id::Number(7)), json!(true))).unwrap();
        assert_eq!(ok, json!({"jsonrpc": "2.0", "id": 7, "result": true}));
        let both = json!({"jsonrpc": "2.0", "id": 7, "result": true, "error": {"code": 1, "message": "x"}});
        assert!(
            serde_json::from_value::<Response>(both).is_err(),
            "result and error together"
        );
        let neither = json!({"jsonrpc": "2.0", "id": 7});
        assert!(
            serde_json::from_value::<Response>(neither).is_err(),
            "neither result nor error"
        );
    }

    #[test]
    fn server_message_tells_notifications_from_answers() {
        let note = json!({"jsonrpc": "2.0", "method": "status_changed", "params": {}});
        assert!(matches!(
            serde_json::from_value(note).unwrap(),
            ServerMessage::Notification(_)
        ));
        let answer = json!({"jsonrpc": "2.0", "id": "a", "result": 1});
        assert!(matches!(
            serde_json::from_value(answer).unwrap(),
            ServerMessage::Response(_)
        ));
    }
}
