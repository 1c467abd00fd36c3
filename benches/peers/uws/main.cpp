// A uWebSockets peer for benches/run.sh: the subset of roomcast's protocol
// that roomcast-bench drives, written the way uWS is meant to be used.
//   /echo                  echoes every message (same opcode);
//   /ws?user=U&room=R      welcome, joined (online, seq), then room chat:
//                          {"type":"chat","data":D} from a member is
//                          published to the room's topic as
//                          {"type":"chat","room":R,"from":U,"data":D,"seq":n,"ts":t}.
// Pub/sub is uWS's own (App::publish to a topic; small messages are corked
// per subscriber by its TopicTree). With --compression, permessage-deflate
// with uWS::SHARED_COMPRESSOR (one zlib stream for all sockets, no context
// kept) and publish(..., compress = true).
// Single-threaded, no TLS. Usage: uws-peer PORT [--compression]
// Built by build.sh from sources it is given; nothing of uWS is committed here.
#include "App.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

struct PerSocketData {
    bool echo = false;
    std::string user;
    std::string room;
};

static uint64_t now_ms() {
    using namespace std::chrono;
    return (uint64_t) duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The raw JSON value of "data" in {"type":"chat","data":D}: everything after
// `"data":` up to the object's closing brace.
static std::string_view chat_data(std::string_view msg) {
    if (msg.substr(0, 14) != "{\"type\":\"chat\"") return {};
    size_t at = msg.find("\"data\":");
    size_t end = msg.rfind('}');
    if (at == std::string_view::npos || end == std::string_view::npos || end <= at + 7) return {};
    return msg.substr(at + 7, end - at - 7);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 8082;
    bool compression = argc > 2 && std::strcmp(argv[2], "--compression") == 0;
    std::unordered_map<std::string, uint64_t> seqs;
    uint64_t next_conn = 1;
    uWS::App *app_ptr = nullptr;

    uWS::App app;
    app_ptr = &app;
    app.ws<PerSocketData>("/*", {
        .compression = compression ? uWS::SHARED_COMPRESSOR : uWS::DISABLED,
        .maxPayloadLength = 64 * 1024,
        .idleTimeout = 120,
        .maxBackpressure = 1024 * 1024,
        .closeOnBackpressureLimit = false,
        .resetIdleTimeoutOnSend = true,
        .sendPingsAutomatically = true,
        .upgrade = [](auto *res, auto *req, auto *context) {
            PerSocketData data;
            data.echo = req->getUrl() == "/echo";
            data.user = std::string(req->getQuery("user"));
            data.room = std::string(req->getQuery("room"));
            res->template upgrade<PerSocketData>(std::move(data),
                req->getHeader("sec-websocket-key"),
                req->getHeader("sec-websocket-protocol"),
                req->getHeader("sec-websocket-extensions"),
                context);
        },
        .open = [&](auto *ws) {
            PerSocketData *d = ws->getUserData();
            if (d->echo) return;
            uint64_t conn = next_conn++;
            if (d->user.empty()) d->user = "anon-" + std::to_string(conn);
            std::string welcome = "{\"type\":\"welcome\",\"conn\":" + std::to_string(conn) + ",\"user\":\"" + d->user +
                "\",\"ts\":" + std::to_string(now_ms()) + ",\"ping_interval\":20}";
            ws->send(welcome, uWS::OpCode::TEXT, false);
            if (!d->room.empty()) {
                ws->subscribe(d->room);
                uint64_t seq = seqs[d->room];
                std::string joined = "{\"type\":\"joined\",\"room\":\"" + d->room + "\",\"online\":" +
                    std::to_string(app_ptr->numSubscribers(d->room)) + ",\"seq\":" + std::to_string(seq) +
                    ",\"recovered\":false}";
                ws->send(joined, uWS::OpCode::TEXT, false);
            }
        },
        .message = [&](auto *ws, std::string_view message, uWS::OpCode opCode) {
            PerSocketData *d = ws->getUserData();
            if (d->echo) {
                ws->send(message, opCode, compression);
                return;
            }
            std::string_view data = chat_data(message);
            if (data.empty() || d->room.empty()) return;
            uint64_t seq = ++seqs[d->room];
            std::string out;
            out.reserve(message.size() + d->room.size() + d->user.size() + 64);
            out += "{\"type\":\"chat\",\"room\":\"";
            out += d->room;
            out += "\",\"from\":\"";
            out += d->user;
            out += "\",\"data\":";
            out += data;
            out += ",\"seq\":";
            out += std::to_string(seq);
            out += ",\"ts\":";
            out += std::to_string(now_ms());
            out += "}";
            app_ptr->publish(d->room, out, uWS::OpCode::TEXT, compression);
        },
    }).listen("127.0.0.1", port, [port](auto *listen_socket) {
        if (listen_socket) {
            std::fprintf(stderr, "listening on 127.0.0.1:%d\n", port);
        } else {
            std::fprintf(stderr, "could not listen on 127.0.0.1:%d\n", port);
        }
    }).run();
}
