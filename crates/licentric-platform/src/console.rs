//! The terminal's echo, off while a secret is typed (`licentric activate` with no key
//! argument): [`EchoOff`] turns it off for standard input and back on when dropped, also on an
//! error. Unix through termios; Windows through the console mode (`ENABLE_ECHO_INPUT`), whose
//! Win32 calls are type-checked on Linux like the named pipe's.

/// Echo off on standard input while this lives (when standard input is a terminal; a pipe has
/// no echo to turn off).
#[derive(Debug)]
pub struct EchoOff {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
    #[cfg(windows)]
    saved: Option<u32>,
}

impl EchoOff {
    /// Turns the echo off.
    pub fn new() -> EchoOff {
        #[cfg(unix)]
        {
            use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
            let stdin = std::io::stdin();
            let saved = tcgetattr(&stdin).ok();
            if let Some(saved) = &saved {
                let mut quiet = saved.clone();
                quiet.local_modes.remove(LocalModes::ECHO);
                let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
            }
            EchoOff { saved }
        }
        #[cfg(windows)]
        {
            EchoOff {
                saved: windows_console::echo_off(),
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            EchoOff {}
        }
    }
}

impl Default for EchoOff {
    fn default() -> EchoOff {
        EchoOff::new()
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
        #[cfg(windows)]
        if let Some(mode) = self.saved {
            windows_console::restore(mode);
        }
    }
}

#[cfg(any(windows, licentric_windows_check))]
#[cfg_attr(not(windows), allow(dead_code))] // type-checked elsewhere, used on Windows
#[allow(unsafe_code)] // Win32 calls: each `unsafe` block says why it holds.
mod windows_console {
    use windows_sys::Win32::System::Console::{
        ENABLE_ECHO_INPUT, GetConsoleMode, GetStdHandle, STD_INPUT_HANDLE, SetConsoleMode,
    };

    /// Turns the console's echo off; the mode before, to restore (`None`: not a console).
    pub(super) fn echo_off() -> Option<u32> {
        // SAFETY: plain calls on this process's standard input handle; `mode` outlives them.
        unsafe {
            let input = GetStdHandle(STD_INPUT_HANDLE);
            let mut mode = 0u32;
            if GetConsoleMode(input, &raw mut mode) == 0 {
                return None;
            }
            SetConsoleMode(input, mode & !ENABLE_ECHO_INPUT);
            Some(mode)
        }
    }

    /// Puts the console's mode back.
    pub(super) fn restore(mode: u32) {
        // SAFETY: plain calls on this process's standard input handle.
        unsafe {
            SetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), mode);
        }
    }
}
