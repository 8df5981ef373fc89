/* The Licentric companion's client library, for C, C++, C# and anything that calls C.
 * Generated from crates/licentric-capi/src by cbindgen: do not edit. */

#ifndef LICENTRIC_H
#define LICENTRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What a call did.
typedef enum {
  // It worked.
  LICENTRIC_OK = 0,
  // No agent is running (or none answers at the socket).
  LICENTRIC_NOT_RUNNING = 1,
  // The socket failed the checks (another user's folder or listener): nothing was sent.
  LICENTRIC_UNSAFE_ENDPOINT = 2,
  // The agent serves another product or environment.
  LICENTRIC_WRONG_AGENT = 3,
  // The agent did not answer in time.
  LICENTRIC_TIMEOUT = 4,
  // The agent answered with an error.
  LICENTRIC_AGENT_ERROR = 5,
  // The connection failed, or an answer was malformed.
  LICENTRIC_IO_ERROR = 6,
  // An argument was null, not UTF-8, or not a known value.
  LICENTRIC_INVALID_ARGUMENT = 7,
  // The agent speaks another protocol version.
  LICENTRIC_PROTOCOL_MISMATCH = 8,
  // What the agent answered did not pass the checks made here (a seat's signed lease).
  LICENTRIC_NOT_VERIFIED = 9,
  // The agent refused the connection: it serves as many as it may, or this process holds
  // its share of them (close the clients it no longer uses). Try again later.
  LICENTRIC_TOO_MANY_CONNECTIONS = 10,
} licentric_result;

// The licence state, as in the IPC `status`.
typedef enum {
  // Not activated.
  LICENTRIC_UNLICENSED = 0,
  // Licensed.
  LICENTRIC_ACTIVE = 1,
  // Licensed, the renewal overdue (offline).
  LICENTRIC_GRACE = 2,
  // The offline period is over.
  LICENTRIC_OFFLINE_EXPIRED = 3,
  // Suspended by the vendor.
  LICENTRIC_SUSPENDED = 4,
  // Revoked by the vendor.
  LICENTRIC_REVOKED = 5,
  // The licence expired.
  LICENTRIC_LICENSE_EXPIRED = 6,
  // The clock was turned back, or the local records cannot vouch for the licence.
  LICENTRIC_CLOCK_TAMPERED = 7,
  // The saved licence is damaged.
  LICENTRIC_INVALID = 8,
  // A state this library does not know (a newer agent).
  LICENTRIC_UNKNOWN_STATE = 99,
} licentric_state;

// A connection to the agent (opaque).
typedef struct licentric_client licentric_client;

// A running subscription (opaque).
typedef struct licentric_subscription licentric_subscription;

// A status, in plain values.
typedef struct {
  // The state.
  licentric_state state;
  // Whether the software may be used now.
  bool entitled;
  // Whether the last attempt to reach the licensing server failed.
  bool offline;
  // The stable reason code (`network_unavailable`, …), or empty.
  char reason[64];
  // The state in a few words, for people.
  char summary[64];
  // What it means and what to do.
  char detail[512];
} licentric_status;

// Why the last call on a client failed, in plain values.
typedef struct {
  // The agent's stable code (`no_seat_available`, `not_entitled`…), `not_verified` for a
  // check made here, or empty.
  char code[64];
  // A sentence saying why.
  char message[512];
} licentric_error_detail;

// Called at every status change, on the subscription's own thread.
typedef void (*licentric_status_callback)(const licentric_status *status, void *user_data);

// A seat held, in plain values.
typedef struct {
  // When its lease runs out unless renewed (RFC 3339, UTC): the agent renews it while the
  // connection holds it.
  char expires_at[40];
  // Seats held on the licence, this machine's included.
  uint32_t seats_in_use;
  // The licence's seats.
  uint32_t max_seats;
  // Whether its signed lease was checked here (`licentric_checkout_checked`): then
  // `expires_at` and `max_seats` are the lease's, signed.
  bool checked;
} licentric_seat;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Connects to the agent of `product_id` in `environment` (`"live"` or `"test"`) at its
// default socket, checking the socket (its folder and listener must be this user's) and that
// the agent serves this product and environment. On success `*out` is a client to pass to
// the other functions and to free with `licentric_close`.
//
// # Safety
// `product_id` and `environment` are NUL-terminated strings; `out` points to writable memory
// for one pointer.
licentric_result licentric_connect(const char *product_id,
                                   const char *environment,
                                   licentric_client **out);

// As `licentric_connect`, at `socket_path` (null: the default socket).
//
// # Safety
// As `licentric_connect`; `socket_path` is null or a NUL-terminated string.
licentric_result licentric_connect_path(const char *socket_path,
                                        const char *product_id,
                                        const char *environment_name,
                                        licentric_client **out);

// Sets how long a call may wait, in milliseconds (0: the defaults, 5 s for a query; more
// than a day counts as a day).
//
// # Safety
// `client` is a client from `licentric_connect`, not yet closed.
licentric_result licentric_set_timeout(licentric_client *client, uint64_t milliseconds);

// Whether the machine is entitled now to the feature `code`: `*entitled` is true only when
// the result is `LICENTRIC_OK` and the agent says so.
//
// # Safety
// `client` is a live client; `code` a NUL-terminated string; `entitled` points to a bool.
licentric_result licentric_has_entitlement(licentric_client *client,
                                           const char *code,
                                           bool *entitled);

// The licence status, into `*out`.
//
// # Safety
// `client` is a live client; `out` points to a `licentric_status`.
licentric_result licentric_get_status(licentric_client *client, licentric_status *out);

// Why the last call on `client` that failed did, into `*out` (both empty if none has).
//
// # Safety
// `client` is a live client; `out` points to a `licentric_error_detail`.
licentric_result licentric_last_error(licentric_client *client, licentric_error_detail *out);

// Closes a client (null is fine).
//
// # Safety
// `client` is null or a client from `licentric_connect`, not used again after this.
void licentric_close(licentric_client *client);

// Subscribes to the status of `product_id` in `environment`: `callback` is called with the
// current status, then at every change, on a thread of the subscription's own, until
// `licentric_subscription_stop`. If the agent goes away, the callback gets a last status that
// is not entitled (`LICENTRIC_UNKNOWN_STATE`, reason `agent_gone`), and the subscription ends.
//
// # Safety
// `product_id` and `environment` are NUL-terminated strings; `callback` is safe to call
// from another thread with `user_data` until the subscription is stopped; `out` points to
// writable memory for one pointer.
licentric_result licentric_subscribe(const char *product_id,
                                     const char *environment_name,
                                     licentric_status_callback callback,
                                     void *user_data,
                                     licentric_subscription **out);

// Stops a subscription and waits for its thread: no callback runs after this returns (null
// is fine). Do not call it from the callback itself.
//
// # Safety
// `subscription` is null or from `licentric_subscribe`, not used again after this.
void licentric_subscription_stop(licentric_subscription *subscription);

// A sentence for a result (a static string: do not free it).
const char *licentric_result_message(int result);

// The library's version, as `"0.1.0"` (a static string).
const char *licentric_version(void);

// Whether the machine is entitled now to the feature `code`, from the signed licence file
// checked here: signed by one of `trusted_keys` (`key_count` of them, the vendor's public
// keys as in the companion's configuration), for this product, environment and machine,
// within its offline period and its licence's dates, active — and the agent counts the machine
// as entitled (a genuine file it no longer vouches for does not pass). `*entitled` is true only when
// the result is `LICENTRIC_OK` and the file grants `code`; a file that grants it not is
// `LICENTRIC_OK` and false. No file, or one that does not pass, is `LICENTRIC_NOT_VERIFIED`
// (`licentric_last_error` says which check failed).
//
// # Safety
// `client` is a live client; `code` a NUL-terminated string; `trusted_keys` points to
// `key_count` NUL-terminated strings; `entitled` points to a bool.
licentric_result licentric_has_entitlement_checked(licentric_client *client,
                                                   const char *code,
                                                   const char *const *trusted_keys,
                                                   uintptr_t key_count,
                                                   bool *entitled);

// Checks out a seat of the floating licence for this connection, one that carries the
// entitlement `entitlement` if it is not null: held until `licentric_release` or
// `licentric_close`, renewed by the agent meanwhile. Asking again on the same connection
// answers the same seat. With no seat free, or the entitlement not in the licence, the
// result is `LICENTRIC_AGENT_ERROR` (`licentric_last_agent_error` says which).
//
// # Safety
// `client` is a live client; `entitlement` is null or a NUL-terminated string; `out` points
// to a `licentric_seat`.
licentric_result licentric_checkout(licentric_client *client,
                                    const char *entitlement,
                                    licentric_seat *out);

// As `licentric_checkout`, and the seat's signed lease checked here before it counts: signed
// by one of `trusted_keys` (`key_count` of them, the vendor's public keys as in the
// companion's configuration), for this product and environment, for this machine (its
// fingerprint computed in this process), not run out by this process's clock, and carrying
// `entitlement` if it is not null. A seat whose lease does not pass is given back, and the
// result is `LICENTRIC_NOT_VERIFIED`.
//
// # Safety
// As `licentric_checkout`; `trusted_keys` points to `key_count` NUL-terminated strings.
licentric_result licentric_checkout_checked(licentric_client *client,
                                            const char *entitlement,
                                            const char *const *trusted_keys,
                                            uintptr_t key_count,
                                            licentric_seat *out);

// Gives this connection's seat back (nothing if it holds none).
//
// # Safety
// `client` is a live client.
licentric_result licentric_release(licentric_client *client);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* LICENTRIC_H */
