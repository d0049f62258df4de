import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.Incompatibility;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;

/**
 * Avro Java's answer to "can this reader read data written with that writer?", for the differential test of
 * contracts.compat (tests/contract/oracle.py starts it once and talks to it over stdin and stdout).
 *
 * <p>One JSON request per line, one JSON answer per line, in order:
 * <pre>
 *   {"id": 7, "reader": "&lt;schema text&gt;", "writer": "&lt;schema text&gt;"}
 *   -&gt; {"id": 7, "compatible": false, "incompatibilities": [{"type": "TYPE_MISMATCH", "message": "...", "location": "/fields/0/type"}]}
 *   -&gt; {"id": 7, "invalid": "reader", "message": "..."}      when a schema does not parse (the registry answers 422)
 *   -&gt; {"id": 7, "compatible": false, "thrown": "..."}       when the check throws (Confluent reports it as incompatible)
 *   {"id": 8, "schema": "&lt;schema text&gt;"}
 *   -&gt; {"id": 8, "valid": true, "logical": "decimal(12,2)"}  whether it parses, and the logical type Java gives its
 *                                                             top type (null for none, or one Java ignores)
 *   -&gt; {"id": 8, "valid": false, "message": "..."}
 * </pre>
 * Each schema is parsed on its own by a default Schema.Parser (defaults validated), as the registry parses one.
 */
public final class AvroOracle {
  private static final ObjectMapper JSON = new ObjectMapper();

  private AvroOracle() {
  }

  public static void main(String[] args) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      ObjectNode answer = JSON.createObjectNode();
      try {
        JsonNode request = JSON.readTree(line);
        answer.set("id", request.get("id"));
        if (request.has("schema")) {
          inspect(request.get("schema").asText(), answer);
        } else {
          judge(request.get("reader").asText(), request.get("writer").asText(), answer);
        }
      } catch (IOException | RuntimeException error) {
        answer.put("error", String.valueOf(error));
      }
      out.write(JSON.writeValueAsString(answer));
      out.newLine();
      if (!in.ready()) {
        out.flush(); // answer at once unless more requests are already waiting
      }
    }
    out.flush();
  }

  private static void judge(String readerText, String writerText, ObjectNode answer) {
    Schema reader;
    Schema writer;
    try {
      reader = new Schema.Parser().parse(readerText);
    } catch (RuntimeException error) {
      answer.put("invalid", "reader").put("message", String.valueOf(error.getMessage()));
      return;
    }
    try {
      writer = new Schema.Parser().parse(writerText);
    } catch (RuntimeException error) {
      answer.put("invalid", "writer").put("message", String.valueOf(error.getMessage()));
      return;
    }
    SchemaPairCompatibility result;
    try {
      result = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
    } catch (RuntimeException error) {
      answer.put("compatible", false).put("thrown", String.valueOf(error.getMessage()));
      return;
    }
    answer.put("compatible", result.getType() == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
    ArrayNode found = answer.putArray("incompatibilities");
    for (Incompatibility incompatibility : result.getResult().getIncompatibilities()) {
      found.addObject()
          .put("type", incompatibility.getType().name())
          .put("message", incompatibility.getMessage())
          .put("location", incompatibility.getLocation());
    }
  }

  private static void inspect(String text, ObjectNode answer) {
    Schema schema;
    try {
      schema = new Schema.Parser().parse(text);
    } catch (RuntimeException error) {
      answer.put("valid", false).put("message", String.valueOf(error.getMessage()));
      return;
    }
    LogicalType logical = schema.getLogicalType(); // null where there is none, or one Java ignores as invalid
    String name = logical == null ? null : logical.getName();
    if (logical instanceof LogicalTypes.Decimal) {
      LogicalTypes.Decimal decimal = (LogicalTypes.Decimal) logical;
      name = "decimal(" + decimal.getPrecision() + "," + decimal.getScale() + ")";
    }
    answer.put("valid", true).put("logical", name);
  }
}
