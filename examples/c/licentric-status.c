/* Ask the Licentric companion about this machine's licence, from C, through the client
 * library's C ABI (crates/licentric-capi, header include/licentric.h).
 *
 *   licentric-status [--socket PATH] PRODUCT ENVIRONMENT status
 *   licentric-status [--socket PATH] PRODUCT ENVIRONMENT has_entitlement CODE [TRUSTED_KEY...]
 *       with the vendor's public keys, answered from the signed licence file, checked here.
 *   licentric-status PRODUCT ENVIRONMENT watch COUNT   (prints COUNT statuses, then stops)
 *   licentric-status [--socket PATH] PRODUCT ENVIRONMENT checkout CODE|- [TRUSTED_KEY...]
 *       holds a seat of a floating licence (carrying CODE, unless "-") until a line or the end
 *       of standard input, then gives it back; with the vendor's public keys, the seat's
 *       signed lease is checked here first.
 *
 * Exit: 0 entitled, 3 not entitled, 1 an error (never "entitled" on doubt), 2 usage.
 * Build: cc licentric-status.c -I crates/licentric-capi/include -L target/debug -llicentric
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licentric.h"

struct watch {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int seen;
};

static void on_status(const licentric_status *status, void *user_data) {
    struct watch *w = user_data;
    printf("state %d, entitled: %s, reason: %s\n", (int)status->state,
           status->entitled ? "true" : "false", status->reason);
    fflush(stdout);
    pthread_mutex_lock(&w->lock);
    w->seen++;
    pthread_cond_signal(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

static int fail(licentric_result r) {
    fprintf(stderr, "error [%d]: %s\n", (int)r, licentric_result_message(r));
    return 1;
}

/* As fail, with what the agent (or the check made here) said. */
static int fail_on(licentric_client *client, licentric_result r) {
    licentric_error_detail detail;
    if (licentric_last_error(client, &detail) == LICENTRIC_OK && detail.code[0])
        fprintf(stderr, "error [%d]: %s: %s [%s]\n", (int)r, licentric_result_message(r),
                detail.message, detail.code);
    else
        fail(r);
    return 1;
}

static int hold_a_seat(licentric_client *client, const char *code, const char *const *keys,
                       size_t key_count) {
    licentric_seat seat;
    const char *entitlement = strcmp(code, "-") == 0 ? NULL : code;
    licentric_result r = key_count > 0
        ? licentric_checkout_checked(client, entitlement, keys, key_count, &seat)
        : licentric_checkout(client, entitlement, &seat);
    if (r != LICENTRIC_OK) return fail_on(client, r);
    printf("seat: %u of %u in use, until %s, lease checked here: %s\n", seat.seats_in_use,
           seat.max_seats, seat.expires_at, seat.checked ? "yes" : "no");
    fflush(stdout);
    char line[64];
    (void)fgets(line, sizeof line, stdin);
    r = licentric_release(client);
    if (r != LICENTRIC_OK) return fail_on(client, r);
    printf("released\n");
    return 0;
}

int main(int argc, char **argv) {
    const char *socket_path = NULL;
    int arg = 1;
    if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
        socket_path = argv[2];
        arg = 3;
    }
    if (argc - arg < 3) {
        fprintf(stderr, "usage: %s [--socket PATH] PRODUCT ENVIRONMENT status|has_entitlement CODE [KEY...]|watch COUNT|checkout CODE|- [KEY...]\n", argv[0]);
        return 2;
    }
    const char *product = argv[arg], *environment = argv[arg + 1], *command = argv[arg + 2];

    if (strcmp(command, "watch") == 0) {
        int count = argc - arg > 3 ? atoi(argv[arg + 3]) : 2;
        struct watch w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        licentric_subscription *subscription = NULL;
        licentric_result r = licentric_subscribe(product, environment, on_status, &w, &subscription);
        if (r != LICENTRIC_OK) return fail(r);
        pthread_mutex_lock(&w.lock);
        while (w.seen < count) pthread_cond_wait(&w.changed, &w.lock);
        pthread_mutex_unlock(&w.lock);
        licentric_subscription_stop(subscription);
        return 0;
    }

    licentric_client *client = NULL;
    licentric_result r = licentric_connect_path(socket_path, product, environment, &client);
    if (r != LICENTRIC_OK) return fail(r);
    const char *timeout = getenv("LICENTRIC_TIMEOUT_MS");
    if (timeout) licentric_set_timeout(client, strtoull(timeout, NULL, 10));

    int code = 1;
    if (strcmp(command, "has_entitlement") == 0 && argc - arg > 3) {
        bool entitled = false;
        size_t key_count = (size_t)(argc - arg - 4);
        r = key_count > 0
            ? licentric_has_entitlement_checked(client, argv[arg + 3],
                                                (const char *const *)&argv[arg + 4], key_count,
                                                &entitled)
            : licentric_has_entitlement(client, argv[arg + 3], &entitled);
        if (r == LICENTRIC_OK) {
            printf("%s: entitled: %s%s\n", argv[arg + 3], entitled ? "true" : "false",
                   key_count > 0 ? ", licence file checked here" : "");
            code = entitled ? 0 : 3;
        } else {
            code = fail_on(client, r);
        }
    } else if (strcmp(command, "checkout") == 0 && argc - arg > 3) {
        code = hold_a_seat(client, argv[arg + 3], (const char *const *)&argv[arg + 4],
                           (size_t)(argc - arg - 4));
    } else if (strcmp(command, "status") == 0) {
        licentric_status status;
        r = licentric_get_status(client, &status);
        if (r == LICENTRIC_OK) {
            printf("%s — %s\n", status.summary, status.detail);
            code = status.entitled ? 0 : 3;
        } else {
            code = fail_on(client, r);
        }
    } else {
        fprintf(stderr, "unknown command %s\n", command);
        code = 2;
    }
    licentric_close(client);
    return code;
}
