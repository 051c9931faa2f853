package org.treeroll.server;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the server refuses, with the HTTP status, the field at fault (a JSON path such as
 * {@code tree.leaf_budget}, or null) and a message a user can act on. Answered as OpenAI's error
 * shape, so their clients show it: {@code {"error": {"message", "type", "param", "code"}}}.
 */
final class ApiError extends RuntimeException {
  final int status;
  final String param;

  ApiError(int status, String param, String message) {
    super(message);
    this.status = status;
    this.param = param;
  }

  static ApiError badRequest(String param, String message) {
    return new ApiError(400, param, message);
  }

  ObjectNode toJson() {
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    ObjectNode e = o.putObject("error");
    e.put("message", param == null ? getMessage() : param + ": " + getMessage());
    e.put("type", type(status));
    if (param == null) {
      e.putNull("param");
    } else {
      e.put("param", param);
    }
    e.put("code", status);
    return o;
  }

  private static String type(int status) {
    return switch (status) {
      case 401 -> "authentication_error";
      case 404 -> "not_found_error";
      case 409 -> "conflict_error";
      case 413 -> "request_too_large";
      case 429 -> "rate_limit_error";
      case 504 -> "timeout_error";
      default -> status >= 500 ? "server_error" : "invalid_request_error";
    };
  }
}
