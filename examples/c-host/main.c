/* A C program that embeds a lobbykit server and a client: the client connects over a real
 * WebSocket on 127.0.0.1, takes a name, creates and joins a lobby, chats, and waits until
 * its own message comes back as an event -- as the host's chat hook rewrote it (a host
 * moderating chat: docs/embedding.md, "Hooks"). Exit status 0 on success.
 *
 *   c-host [--in-process]
 */
#define _POSIX_C_SOURCE 200809L

#include <lobbykit/lobbykit.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The client's events arrive on its loop thread; main waits for the chat on a condition. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int named, chat_seen;

static void on_client_event(const char *event_json, void *user_data) {
  (void)user_data;
  printf("client event: %s\n", event_json);
  pthread_mutex_lock(&mu);
  if (strstr(event_json, "\"type\":\"name_changed\""))
    named = 1;
  if (strstr(event_json, "\"type\":\"chat\"") && strstr(event_json, "Hello from C (checked)"))
    chat_seen = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

/* Waits until *flag is set or the deadline passes; returns the flag. */
static int wait_for(const int *flag, const struct timespec *deadline) {
  int value;
  pthread_mutex_lock(&mu);
  while (!*flag && pthread_cond_timedwait(&cv, &mu, deadline) == 0) {
  }
  value = *flag;
  pthread_mutex_unlock(&mu);
  return value;
}

static void on_server_event(const char *event_json, void *user_data) {
  (void)user_data;
  printf("server event: %s\n", event_json);
}

/* The host's chat hook, on the server's loop thread: every message gets " (checked)" added
 * before anyone sees it; one with "spam" in it is refused. It answers at once here; a host
 * may keep the decision and answer from another thread later. */
static void on_chat(const char *request_json, lk_decision *decision, void *user_data) {
  char text[512], answer[600];
  const char *start = strstr(request_json, "\"text\":\"");
  const char *end;
  size_t n;
  (void)user_data;
  if (strstr(request_json, "spam")) {
    lk_decision_resolve(decision,
                        "{\"allow\":false,\"reason\":\"spam\",\"message\":\"No ads here.\"}");
    return;
  }
  /* The text as the request has it (already JSON-escaped, so it can go back as it is). */
  if (!start) {
    lk_decision_resolve(decision, NULL);
    return;
  }
  start += strlen("\"text\":\"");
  /* "text" is the request's last field: the text ends where the object does. */
  end = request_json + strlen(request_json) - 2;
  if (end < start || strcmp(end, "\"}") != 0) end = NULL;
  n = end ? (size_t)(end - start) : 0;
  if (!end || n >= sizeof text) {
    lk_decision_resolve(decision, NULL);
    return;
  }
  memcpy(text, start, n);
  text[n] = '\0';
  snprintf(answer, sizeof answer, "{\"text\":\"%s (checked)\"}", text);
  lk_decision_resolve(decision, answer);
}

static int fail(const char *what) {
  fprintf(stderr, "c-host: %s failed: %s\n", what, lk_error_last()->message);
  return 1;
}

int main(int argc, char **argv) {
  int in_process = argc > 1 && strcmp(argv[1], "--in-process") == 0;
  lk_server_options so = LK_SERVER_OPTIONS_INIT;
  lk_client_options co = LK_CLIENT_OPTIONS_INIT;
  lk_server *server = NULL;
  lk_client *client = NULL;
  char url[64], *reply = NULL;
  struct timespec deadline;
  int status = 1, seen;

  printf("lobbykit %s (headers %s)\n", lk_version(), LK_VERSION_STRING);
  so.host = "127.0.0.1";
  so.port = LK_PORT_ANY;
  so.store_path = ""; /* in memory */
  if (lk_server_new(&server, &so) != LK_OK) return fail("lk_server_new");
  lk_server_subscribe(NULL, server, on_server_event, NULL);
  lk_server_set_hook(server, LK_HOOK_CHAT, on_chat, NULL);
  if (lk_server_start(server) != LK_OK) goto out;

  snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", lk_server_port(server));
  co.url = url;
  co.name = "C host";
  if ((in_process ? lk_client_new_in_process(&client, server, &co)
                  : lk_client_new(&client, &co)) != LK_OK) {
    fail("creating the client");
    goto out;
  }
  lk_client_subscribe(NULL, client, on_client_event, NULL);
  lk_client_start(client);

  /* Requests made before the welcome fail with "not_connected": wait for the name. */
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  if (!wait_for(&named, &deadline)) {
    fprintf(stderr, "c-host: no welcome in time\n");
    goto out;
  }

  if (lk_client_request_wait(&reply, client, "create_lobby", "{\"name\":\"C lobby\"}") != LK_OK) {
    fail("create_lobby");
    goto out;
  }
  printf("created: %s\n", reply);
  lk_free(reply);
  reply = NULL;
  if (lk_client_request_wait(NULL, client, "join_lobby", "{\"name\":\"C lobby\"}") != LK_OK ||
      lk_client_request_wait(NULL, client, "chat", "{\"text\":\"Hello from C\"}") != LK_OK) {
    fail("join_lobby or chat");
    goto out;
  }

  seen = wait_for(&chat_seen, &deadline);
  if (!seen) {
    fprintf(stderr, "c-host: the chat did not come back in time\n");
    goto out;
  }
  printf("c-host: ok\n");
  status = 0;

out:
  lk_client_free(client);
  lk_server_free(server);
  return status;
}
