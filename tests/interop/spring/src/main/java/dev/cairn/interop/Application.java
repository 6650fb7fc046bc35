// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
package dev.cairn.interop;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.Tracer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.CommandLineRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;

/**
 * Reads the topics cairn shipped to, as the seed's Spring Boot consumers do, and checks: every
 * value deserialized to its mapped Java record (by the __TypeId__ header), every stream's versions
 * in order, and every stream complete (the store's last versions, from --cairn.expected). Prints
 * one summary line and exits 0 when all holds, 1 otherwise. With EnvelopeDeserializer as the
 * value deserializer (cairn's envelope value format) each envelope's stream, version, position,
 * event id and chain hash must also match the record's key and cairn headers.
 *
 * <p>Tracing is on as in the seed's services (Micrometer Tracing over Brave, Spring Kafka's
 * listener observation): a record with a W3C traceparent header must be handled inside a span of
 * that trace whose parent is the traceparent's span, the trace id must be the one appended to that
 * stream and version (--cairn.traces: lines of "stream version trace-id"), every such event must
 * arrive, and no other record may carry a traceparent (cairn invents none).
 */
@SpringBootApplication
public class Application {
  private final Map<String, Long> expected = new ConcurrentHashMap<>();
  private final Map<String, Long> seen = new ConcurrentHashMap<>();
  private final AtomicLong records = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong problems = new AtomicLong();
  private final AtomicLong envelopes = new AtomicLong();
  private final Map<String, AtomicLong> byType = new ConcurrentHashMap<>();
  private final CountDownLatch complete = new CountDownLatch(1);
  private volatile String firstProblem = "";
  // "stream version" -> the trace id appended with it; removed as each arrives in its trace.
  private final Map<String, String> tracesExpected = new ConcurrentHashMap<>();
  private final AtomicLong tracesContinued = new AtomicLong();
  private int tracesWanted = 0;
  private final Tracer tracer;

  // Read before the listener container starts (a runner would race the first records).
  Application(Tracer tracer, @Value("${cairn.traces:}") String tracesFile) throws IOException {
    this.tracer = tracer;
    if (tracesFile.isEmpty()) return;
    for (String line : Files.readAllLines(Path.of(tracesFile))) {
      String[] parts = line.trim().split(" ");
      if (parts.length == 3) tracesExpected.put(parts[0] + " " + parts[1], parts[2]);
    }
    tracesWanted = tracesExpected.size();
  }

  public static void main(String[] args) {
    System.exit(SpringApplication.exit(SpringApplication.run(Application.class, args)));
  }

  @Value("${cairn.expected}")
  private String expectedFile;

  @Value("${cairn.timeout-seconds:120}")
  private long timeoutSeconds;

  @Value("${cairn.allow-duplicates:false}")
  private boolean allowDuplicates;

  private int exitCode = 1;

  private static String header(ConsumerRecord<?, ?> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  private void problem(String what) {
    if (problems.getAndIncrement() == 0) firstProblem = what;
    complete.countDown();  // the verdict is known: fail now rather than at the timeout
  }

  /**
   * A record whose value does not deserialize never reaches the listener: Spring's error
   * handler gets it. Count it as a problem (the default would log it and move on).
   */
  @Bean
  org.springframework.kafka.listener.CommonErrorHandler errorHandler() {
    return new org.springframework.kafka.listener.DefaultErrorHandler(
        (record, error) -> {
          records.incrementAndGet();
          Throwable root = error;
          while (root.getCause() != null) root = root.getCause();
          problem(record.topic() + "/" + record.partition() + "@" + record.offset()
              + " did not deserialize: " + root.getMessage());
        },
        new org.springframework.util.backoff.FixedBackOff(0, 0));
  }

  @KafkaListener(topics = "#{'${cairn.topics}'.split(',')}")
  public void on(ConsumerRecord<String, Object> record) {
    records.incrementAndGet();
    Object value = record.value();
    // (JsonDeserializer removes the __TypeId__ header once it has used it to pick the class.)
    if (value == null) {
      Header error = record.headers().lastHeader("springDeserializerExceptionValue");
      problem("record at " + record.topic() + "/" + record.partition() + "@" + record.offset()
          + " did not deserialize" + (error == null ? "" : " (the deserializer failed)"));
      return;
    }
    String where = record.topic() + "/" + record.partition() + "@" + record.offset();
    if (value instanceof Envelope envelope) {
      // The envelope carries the store's coordinates itself: they must agree with the key and
      // with the headers cairn sent beside it.
      envelopes.incrementAndGet();
      if (!envelope.stream().equals(record.key())
          || !String.valueOf(envelope.version()).equals(header(record, "cairn.version"))
          || !String.valueOf(envelope.position()).equals(header(record, "cairn.position"))
          || !envelope.eventId().equals(header(record, "cairn.event_id"))
          || !envelope.chainHash().equals(header(record, "cairn.chain_hash"))
          || !java.util.Objects.equals(envelope.traceparent(), header(record, "traceparent"))) {
        problem(where + ": the envelope (" + envelope.stream() + " v" + envelope.version()
            + ") disagrees with the record's key or headers");
        return;
      }
      value = envelope.event();
    }
    if (value.getClass().getEnclosingClass() != Events.class) {
      problem(where + " became a " + value.getClass().getName() + ", not a mapped event record");
      return;
    }
    if (!checkTrace(record, where)) return;
    String type = value.getClass().getSimpleName();
    byType.computeIfAbsent(type, t -> new AtomicLong()).incrementAndGet();
    long version = Long.parseLong(header(record, "cairn.version"));
    String stream = record.key();
    long last = seen.getOrDefault(stream, 0L);
    if (version <= last) {
      duplicates.incrementAndGet();
      if (!allowDuplicates) problem(stream + " version " + version + " again after " + last);
    } else if (version != last + 1) {
      problem(stream + ": version " + version + " after " + last + " (gap or reorder)");
    } else {
      seen.put(stream, version);
    }
    if (seen.size() == expected.size()
        && expected.entrySet().stream().allMatch(e -> seen.getOrDefault(e.getKey(), 0L) >= e.getValue())) {
      complete.countDown();
    }
  }

  /**
   * The listener runs inside the consumer span Spring Kafka's observation opened from the
   * record's headers: with a traceparent, that span continues its trace as its child.
   */
  private boolean checkTrace(ConsumerRecord<String, Object> record, String where) {
    String traceparent = header(record, "traceparent");
    String key = record.key() + " " + header(record, "cairn.version");
    String want = tracesExpected.get(key);
    if (traceparent == null) {
      if (want != null) problem(where + ": appended with trace " + want + " but has no traceparent");
      return want == null;
    }
    String[] parts = traceparent.split("-");
    if (want == null || parts.length != 4 || !parts[1].equals(want)) {
      problem(where + ": traceparent " + traceparent + ", expected "
          + (want == null ? "none (it was appended without one)" : "trace " + want));
      return false;
    }
    Span span = tracer.currentSpan();
    if (span == null) {
      problem(where + ": no current span in the listener (observation is off?)");
      return false;
    }
    if (!span.context().traceId().equals(parts[1]) || !parts[2].equals(span.context().parentId())) {
      problem(where + ": the listener's span is trace " + span.context().traceId() + " parent "
          + span.context().parentId() + ", not a child of " + traceparent);
      return false;
    }
    if (tracesExpected.remove(key) != null) tracesContinued.incrementAndGet();
    return true;
  }

  @Bean
  CommandLineRunner check() {
    return args -> {
      for (String line : Files.readAllLines(Path.of(expectedFile))) {
        String[] parts = line.trim().split(" ");
        if (parts.length == 2) expected.put(parts[0], Long.parseLong(parts[1]));
      }

      boolean done = complete.await(timeoutSeconds, TimeUnit.SECONDS);
      if (!tracesExpected.isEmpty())
        problem(tracesExpected.size() + " traced events never arrived in their trace, e.g. "
            + tracesExpected.keySet().iterator().next());
      System.out.printf("spring: %d of %d traces continued%n", tracesContinued.get(), tracesWanted);
      long missing = expected.entrySet().stream()
          .filter(e -> seen.getOrDefault(e.getKey(), 0L) < e.getValue()).count();
      System.out.printf("spring: %d records (%d envelopes), %d streams complete of %d, %d duplicates, %d problems,"
              + " types %s%s%n", records.get(), envelopes.get(), expected.size() - missing, expected.size(),
          duplicates.get(), problems.get(), byType, firstProblem.isEmpty() ? "" : ": " + firstProblem);
      exitCode = done && problems.get() == 0 ? 0 : 1;
    };
  }

  @Bean
  org.springframework.boot.ExitCodeGenerator exitCode() {
    return () -> exitCode;
  }
}
