// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
package dev.cairn.interop;

import cairn.fb.EventEnvelope;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.zip.CRC32C;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Reads the value cairn ships with `--value envelope`: the stored FlatBuffers envelope of
 * docs/format.md ("Event value"), decoded with the Java classes flatc generates from
 * schemas/event.fbs. The payload inside is mapped to a Java record by the envelope's own type
 * field, through the same `spring.json.type.mapping` property the JSON consumer uses, so a
 * service switches value formats by changing its deserializer only. Stateless after
 * configure(); Kafka calls it from the consumer's thread.
 */
public class EnvelopeDeserializer implements Deserializer<Envelope> {
  private static final HexFormat HEX = HexFormat.of();
  private final ObjectMapper mapper =
      new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
  private final Map<String, Class<?>> types = new HashMap<>();

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    Object mapping = configs.get("spring.json.type.mapping");
    if (mapping == null) throw new IllegalArgumentException("spring.json.type.mapping is not set");
    for (String entry : mapping.toString().split(",")) {
      String[] parts = entry.trim().split(":");
      if (parts.length != 2) throw new IllegalArgumentException("bad type mapping entry: " + entry);
      try {
        types.put(parts[0].trim(), Class.forName(parts[1].trim()));
      } catch (ClassNotFoundException e) {
        throw new IllegalArgumentException("type mapping names an unknown class: " + parts[1], e);
      }
    }
  }

  @Override
  public Envelope deserialize(String topic, byte[] data) {
    if (data == null) return null;
    // The stored value (docs/format.md, "Event value"): format byte 1, three zero bytes, the
    // CRC-32C of the rest (little-endian), then the FlatBuffers envelope. FlatBuffers' Java
    // runtime has no verifier, so nothing inside is read before the CRC holds.
    if (data.length < 16 || data[0] != 1 || data[1] != 0 || data[2] != 0 || data[3] != 0) {
      throw new SerializationException(topic + ": the value is not a cairn envelope of value format 1");
    }
    CRC32C crc = new CRC32C();
    crc.update(data, 8, data.length - 8);
    int stored = ByteBuffer.wrap(data, 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
    if ((int) crc.getValue() != stored) {
      throw new SerializationException(topic + ": the envelope's CRC-32C does not match its bytes");
    }
    ByteBuffer bb = ByteBuffer.wrap(data, 8, data.length - 8).slice();
    if (!EventEnvelope.EventEnvelopeBufferHasIdentifier(bb)) {
      throw new SerializationException(topic + ": the envelope lacks the CRN1 file identifier");
    }
    EventEnvelope e = EventEnvelope.getRootAsEventEnvelope(bb);
    if (e.eventId() == null || e.stream() == null || e.type() == null || e.chainHashLength() != 32) {
      throw new SerializationException(topic + ": the envelope lacks a required field");
    }
    Class<?> cls = types.get(e.type());
    if (cls == null) throw new SerializationException(topic + ": no Java type mapped for " + e.type());
    byte[] payload = new byte[e.payloadLength()];
    e.payloadAsByteBuffer().get(payload);
    byte[] id = new byte[16];
    for (int i = 0; i < 16; i++) id[i] = (byte) e.eventId().bytes(i);
    byte[] chain = new byte[e.chainHashLength()];
    e.chainHashAsByteBuffer().get(chain);
    try {
      return new Envelope(e.stream(), e.version(), e.position(), e.type(), uuid(id),
          HEX.formatHex(chain), e.contentType(), e.traceparent(), mapper.readValue(payload, cls));
    } catch (IOException ex) {
      throw new SerializationException(topic + ": the payload of " + e.stream() + " v" + e.version()
          + " is not a " + cls.getSimpleName(), ex);
    }
  }

  private static String uuid(byte[] b) {
    String h = HEX.formatHex(b);
    return h.substring(0, 8) + "-" + h.substring(8, 12) + "-" + h.substring(12, 16) + "-"
        + h.substring(16, 20) + "-" + h.substring(20);
  }
}
