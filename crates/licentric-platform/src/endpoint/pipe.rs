//! Windows: the named pipe's security, through the Win32 API — the owner-only DACL the agent
//! creates every instance of its pipe with, and the owner checks both ends make once
//! connected (`docs/ipc.md`, Transport):
//!
//! - the agent creates each instance with [`PipeSecurity::owner_only`] (a protected DACL with
//!   one entry: all access for the agent's own user, so no other account can open it) and,
//!   for the first, `FILE_FLAG_FIRST_PIPE_INSTANCE` (so it refuses a name another user
//!   created first), rejecting remote clients; it checks each client with
//!   [`check_pipe_client`];
//! - a client, before it writes a byte, checks with [`check_pipe_server`] that the pipe
//!   object is owned by its own user and that the process serving it runs as its own user, so
//!   a pipe squatted under the agent's name by another account receives nothing — even if the
//!   squatter's process ended and its id went to one of this user's processes.
//!
//! A check that cannot be made (the other process is gone, or its token cannot be read)
//! refuses: the ends fail closed.
//!
//! Written against the Win32 documentation; it is type-checked on Linux
//! (`RUSTFLAGS="--cfg licentric_windows_check" cargo check -p licentric-platform`, run by
//! `.ci/test`) and built and run only on Windows (the CI workflow's Windows job).

use std::ffi::c_void;
use std::path::Path;
use std::ptr::null_mut;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, GetLastError, HANDLE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    EqualSid, GetTokenInformation, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Pipes::{GetNamedPipeClientProcessId, GetNamedPipeServerProcessId};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::EndpointError;

/// A pipe handle, as `AsRawHandle::as_raw_handle` gives it.
pub type RawPipe = *mut c_void;

/// The security attributes every instance of the agent's pipe is created with: a protected
/// DACL that grants the current user all access and nobody else any.
pub struct PipeSecurity {
    descriptor: PSECURITY_DESCRIPTOR,
    attributes: SECURITY_ATTRIBUTES,
}

// SAFETY: the descriptor is memory the system allocated for this value alone (freed once, in
// `drop`); nothing else refers to it, so it may move to another thread with its owner.
unsafe impl Send for PipeSecurity {}

impl std::fmt::Debug for PipeSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeSecurity").finish_non_exhaustive()
    }
}

impl PipeSecurity {
    /// Attributes admitting the current user only.
    ///
    /// # Errors
    /// When the current user or the descriptor cannot be made (the system's error).
    pub fn owner_only() -> std::io::Result<PipeSecurity> {
        let user = UserSid::of_current_process()?.to_sddl()?;
        // O: the owner, the user (an administrator's default owner would be the
        // Administrators group, which clients refuse); D: the DACL, P: protected (nothing
        // inherited), one allow entry: all access (GA) for the user.
        let sddl = wide(&format!("O:{user}D:P(A;;GA;;;{user})"));
        let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: `sddl` is a NUL-terminated UTF-16 string alive for the call; `descriptor`
        // receives memory the system allocates (freed in `drop` with `LocalFree`).
        let made = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &raw mut descriptor,
                null_mut(),
            )
        };
        if made == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let size = u32::try_from(std::mem::size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(u32::MAX);
        Ok(PipeSecurity {
            descriptor,
            attributes: SECURITY_ATTRIBUTES {
                nLength: size,
                lpSecurityDescriptor: descriptor,
                bInheritHandle: 0,
            },
        })
    }

    /// The `SECURITY_ATTRIBUTES` pointer for `CreateNamedPipeW` (valid while `self` lives).
    pub fn as_raw(&mut self) -> *mut c_void {
        (&raw mut self.attributes).cast()
    }
}

impl Drop for PipeSecurity {
    fn drop(&mut self) {
        // SAFETY: allocated by `ConvertStringSecurityDescriptorToSecurityDescriptorW`, freed
        // once.
        unsafe {
            LocalFree(self.descriptor);
        }
    }
}

/// The agent's side: the process connected at the other end of `pipe` runs as the current
/// user; its process id (for the list of apps that asked).
///
/// # Errors
/// [`EndpointError::ForeignPipePeer`] for another user's process; [`EndpointError::Io`] when
/// it cannot be checked (refused too).
pub fn check_pipe_client(name: &Path, pipe: RawPipe) -> Result<u32, EndpointError> {
    let mut pid = 0u32;
    // SAFETY: `pipe` is a live pipe handle; `pid` outlives the call.
    if unsafe { GetNamedPipeClientProcessId(pipe as HANDLE, &raw mut pid) } == 0 {
        return Err(io(name, &std::io::Error::last_os_error()));
    }
    same_user(name, pid).map(|()| pid)
}

/// The client's side, before it writes anything: the pipe object is owned by the current user
/// (so it was not created by another account, whose process id the system could since have
/// given to one of this user's), and the process serving it runs as the current user.
///
/// # Errors
/// [`EndpointError::ForeignPipePeer`] for another user's pipe or server; [`EndpointError::Io`]
/// when it cannot be checked (refused too).
pub fn check_pipe_server(name: &Path, pipe: RawPipe) -> Result<(), EndpointError> {
    owned_by_this_user(name, pipe)?;
    let mut pid = 0u32;
    // SAFETY: `pipe` is a live pipe handle; `pid` outlives the call.
    if unsafe { GetNamedPipeServerProcessId(pipe as HANDLE, &raw mut pid) } == 0 {
        return Err(io(name, &std::io::Error::last_os_error()));
    }
    same_user(name, pid)
}

/// The current user's SID as text, for the pipe's name.
#[cfg_attr(not(windows), allow(dead_code))] // type-checked elsewhere, used on Windows
pub(super) fn current_user_sid() -> std::io::Result<String> {
    UserSid::of_current_process()?.to_sddl()
}

/// The pipe object's owner is the current user.
fn owned_by_this_user(name: &Path, pipe: RawPipe) -> Result<(), EndpointError> {
    let ours = UserSid::of_current_process().map_err(|e| io(name, &e))?;
    let mut owner: PSID = null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `pipe` is a live handle opened with read access (which includes READ_CONTROL);
    // `owner` points into `descriptor`, which the system allocates and is freed below.
    let status = unsafe {
        GetSecurityInfo(
            pipe as HANDLE,
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &raw mut owner,
            null_mut(),
            null_mut(),
            null_mut(),
            &raw mut descriptor,
        )
    };
    if status != 0 {
        let error = std::io::Error::from_raw_os_error(i32::try_from(status).unwrap_or(i32::MAX));
        return Err(io(name, &error));
    }
    // SAFETY: both SIDs are valid: `owner` while `descriptor` lives, ours while it lives.
    let same = unsafe { EqualSid(owner, ours.sid()) } != 0;
    let peer = if same {
        String::new()
    } else {
        sid_text(owner).unwrap_or_else(|_| "another user".into())
    };
    // SAFETY: allocated by GetSecurityInfo, freed once, after the last use of `owner`.
    unsafe {
        LocalFree(descriptor);
    }
    if same {
        return Ok(());
    }
    Err(EndpointError::ForeignPipePeer {
        path: name.to_owned(),
        peer,
        user: ours.to_sddl().unwrap_or_else(|_| "you".into()),
    })
}

fn same_user(name: &Path, pid: u32) -> Result<(), EndpointError> {
    let ours = UserSid::of_current_process().map_err(|e| io(name, &e))?;
    let theirs = UserSid::of_process_id(pid).map_err(|e| io(name, &e))?;
    if ours.equals(&theirs) {
        return Ok(());
    }
    Err(EndpointError::ForeignPipePeer {
        path: name.to_owned(),
        peer: theirs.to_sddl().unwrap_or_else(|_| "another user".into()),
        user: ours.to_sddl().unwrap_or_else(|_| "you".into()),
    })
}

fn io(name: &Path, e: &std::io::Error) -> EndpointError {
    EndpointError::Io {
        path: name.to_owned(),
        message: e.to_string(),
    }
}

/// A handle this code opened, closed when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: opened by this module, closed once.
        unsafe {
            CloseHandle(self.0);
        }
    }
}

/// A process's user: the `TOKEN_USER` its token gave, in the buffer the system filled (the
/// SID points into it; `u64`s keep it aligned).
struct UserSid {
    buffer: Vec<u64>,
}

impl UserSid {
    fn of_current_process() -> std::io::Result<UserSid> {
        // SAFETY: a pseudo-handle that needs no closing.
        UserSid::of_process(unsafe { GetCurrentProcess() })
    }

    fn of_process_id(pid: u32) -> std::io::Result<UserSid> {
        // SAFETY: plain call; a null handle is an error.
        let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if process.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let process = Owned(process);
        UserSid::of_process(process.0)
    }

    fn of_process(process: HANDLE) -> std::io::Result<UserSid> {
        let mut token: HANDLE = null_mut();
        // SAFETY: `process` is a live process handle; `token` outlives the call.
        if unsafe { OpenProcessToken(process, TOKEN_QUERY, &raw mut token) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let token = Owned(token);
        let mut needed = 0u32;
        // SAFETY: asks for the size only (no buffer); fails with ERROR_INSUFFICIENT_BUFFER.
        let sized =
            unsafe { GetTokenInformation(token.0, TokenUser, null_mut(), 0, &raw mut needed) };
        // SAFETY: plain call.
        if sized == 0 && unsafe { GetLastError() } != ERROR_INSUFFICIENT_BUFFER {
            return Err(std::io::Error::last_os_error());
        }
        let bytes = (needed as usize).max(std::mem::size_of::<TOKEN_USER>());
        let mut buffer = vec![0u64; bytes.div_ceil(8)];
        let length = u32::try_from(buffer.len() * 8).unwrap_or(u32::MAX);
        // SAFETY: `buffer` holds `length` writable, aligned bytes for the call.
        let read = unsafe {
            GetTokenInformation(
                token.0,
                TokenUser,
                buffer.as_mut_ptr().cast(),
                length,
                &raw mut needed,
            )
        };
        if read == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(UserSid { buffer })
    }

    fn sid(&self) -> PSID {
        // SAFETY: the buffer starts with the TOKEN_USER the system wrote, aligned and whole.
        unsafe { (*self.buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid }
    }

    fn equals(&self, other: &UserSid) -> bool {
        // SAFETY: both SIDs are valid while their buffers live.
        unsafe { EqualSid(self.sid(), other.sid()) != 0 }
    }

    /// The SID as text (`S-1-5-21-…`).
    fn to_sddl(&self) -> std::io::Result<String> {
        sid_text(self.sid())
    }
}

/// `sid` as text (`S-1-5-21-…`).
fn sid_text(sid: PSID) -> std::io::Result<String> {
    let mut text: *mut u16 = null_mut();
    // SAFETY: a valid SID; `text` receives a string the system allocates (freed below).
    if unsafe { ConvertSidToStringSidW(sid, &raw mut text) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut len = 0usize;
    // SAFETY: the system's string is NUL-terminated.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` UTF-16 units were just read; freed once after the copy.
    let sid = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    // SAFETY: allocated by ConvertSidToStringSidW.
    unsafe {
        LocalFree(text.cast());
    }
    Ok(sid)
}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}
