// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The peer of cairn's shipper that the seed's team would build from parts: services insert
// events into a PostgreSQL outbox table (synchronous_commit=on), Debezium's embedded engine
// reads the table's changes from the write-ahead log (Postgres connector, pgoutput), its outbox
// event router turns each row into a record keyed by aggregate id, and an idempotent producer
// (acks=all, as a Kafka Connect worker's) sends it to Kafka. A read_committed consumer in the
// same JVM receives each event; the latency is from just before the insert (the nanoTime in the
// payload) to the consumer's poll returning it, the same span cairn_ship_bench's "append ->
// read_committed consumer" measures.
//
// Usage: DebeziumOutbox PG_HOST PG_PORT BOOTSTRAP TOPIC_SUFFIX RATE SECONDS WRITERS
// Prints one line: "sent N received N rate R inserted R p50 MS p95 MS p99 MS max MS" (rate:
// events/s delivered end to end; inserted: events/s the writers committed).
package dev.cairn.bench;

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class DebeziumOutbox {
  // The payload arrives as a JSON string inside the record's value: its quotes escaped.
  private static final Pattern SENT_AT = Pattern.compile("t\\\\*\":(\\d+)");

  public static void main(String[] args) throws Exception {
    if (args.length != 7) {
      System.err.println(
          "usage: DebeziumOutbox PG_HOST PG_PORT BOOTSTRAP TOPIC_SUFFIX RATE SECONDS WRITERS");
      System.exit(2);
    }
    final String host = args[0];
    final int port = Integer.parseInt(args[1]);
    final String bootstrap = args[2];
    final String aggregate = "order" + args[3];
    final String topic = "outbox.event." + aggregate;
    final int rate = Integer.parseInt(args[4]);
    final int seconds = Integer.parseInt(args[5]);
    final int writers = Integer.parseInt(args[6]);
    final String jdbc = "jdbc:postgresql://" + host + ":" + port + "/postgres";

    try (Connection c = DriverManager.getConnection(jdbc, "bench", "")) {
      c.createStatement()
          .execute(
              "CREATE TABLE IF NOT EXISTS outbox (id uuid PRIMARY KEY, aggregatetype text NOT NULL,"
                  + " aggregateid text NOT NULL, type text NOT NULL, payload text NOT NULL)");
    }

    // Debezium -> Kafka, as a Connect worker would: async sends, offsets marked per batch.
    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    pp.put("acks", "all");
    pp.put("enable.idempotence", "true");
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    KafkaProducer<String, String> producer = new KafkaProducer<>(pp);

    Properties dp = new Properties();
    dp.put("name", "cairn-bench");
    dp.put("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
    dp.put("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    dp.put("offset.flush.interval.ms", "1000");
    dp.put("database.hostname", host);
    dp.put("database.port", Integer.toString(port));
    dp.put("database.user", "bench");
    dp.put("database.password", "");
    dp.put("database.dbname", "postgres");
    dp.put("topic.prefix", "bench");
    dp.put("plugin.name", "pgoutput");
    dp.put("slot.name", "cairn_bench");
    dp.put("publication.autocreate.mode", "filtered");
    dp.put("table.include.list", "public.outbox");
    dp.put("snapshot.mode", "no_data");
    // Tuned for latency: the engine's default waits 500 ms between empty polls.
    dp.put("poll.interval.ms", "1");
    dp.put("max.batch.size", "2048");
    dp.put("transforms", "outbox");
    dp.put("transforms.outbox.type", "io.debezium.transforms.outbox.EventRouter");
    dp.put("transforms.outbox.table.expand.json.payload", "false");
    dp.put("key.converter.schemas.enable", "false");
    dp.put("value.converter.schemas.enable", "false");

    DebeziumEngine<ChangeEvent<String, String>> engine =
        DebeziumEngine.create(Json.class)
            .using(dp)
            .notifying(
                (records, committer) -> {
                  for (ChangeEvent<String, String> r : records) {
                    producer.send(new ProducerRecord<>(r.destination(), r.key(), r.value()));
                    committer.markProcessed(r);
                  }
                  committer.markBatchFinished();
                })
            .using(
                (success, message, error) -> {
                  if (!success) {
                    System.err.println("debezium engine stopped: " + message);
                    if (error != null) error.printStackTrace();
                  }
                })
            .build();
    ExecutorService engineThread = Executors.newSingleThreadExecutor();
    engineThread.execute(engine);

    // The consumer, read_committed, as cairn's benchmark reads.
    Properties cp = new Properties();
    cp.put("bootstrap.servers", bootstrap);
    cp.put("group.id", "cairn-bench-" + UUID.randomUUID());
    cp.put("isolation.level", "read_committed");
    cp.put("auto.offset.reset", "earliest");
    cp.put("fetch.max.wait.ms", "10");
    cp.put("key.deserializer", StringDeserializer.class.getName());
    cp.put("value.deserializer", StringDeserializer.class.getName());
    KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp);
    consumer.subscribe(List.of(topic));

    // Wait until the pipeline carries a probe end to end (slot, publication, topic creation).
    final String filler = "x".repeat(150);
    // A probe inserted before the connector made its replication slot is never seen: insert
    // one every second until one arrives.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    long nextProbe = 0;
    boolean ready = false;
    while (!ready && System.nanoTime() < deadline) {
      if (System.nanoTime() >= nextProbe) {
        insert(jdbc, aggregate, "probe", System.nanoTime(), filler);
        nextProbe = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
      }
      for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100)))
        ready |= r.key() != null && r.key().contains("probe");
    }
    if (!ready) {
      System.err.println("the Debezium pipeline never delivered its probe within 120 s");
      System.exit(1);
    }

    // Writers: `writers` threads share a paced schedule of `rate` events/s, one per transaction.
    final long total = (long) rate * seconds;
    final long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
    final AtomicLong next = new AtomicLong();
    final AtomicLong failures = new AtomicLong();
    final AtomicLong writersDone = new AtomicLong();
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < writers; ++w) {
      final int id = w;
      Thread t =
          new Thread(
              () -> {
                try (Connection c = DriverManager.getConnection(jdbc, "bench", "");
                    PreparedStatement ps =
                        c.prepareStatement(
                            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload)"
                                + " VALUES (?, ?, ?, 'OrderPlaced', ?)")) {
                  for (long i; (i = next.getAndIncrement()) < total; ) {
                    final long due = start + i * 1_000_000_000L / rate;
                    long now;
                    while ((now = System.nanoTime()) < due)
                      TimeUnit.NANOSECONDS.sleep(Math.min(due - now, 200_000));
                    ps.setObject(1, UUID.randomUUID());
                    ps.setString(2, aggregate);
                    ps.setString(3, "order-" + id + "-" + (i % 64));
                    ps.setString(4, payload(System.nanoTime(), filler));
                    ps.executeUpdate();
                  }
                } catch (Exception e) {
                  failures.incrementAndGet();
                  e.printStackTrace();
                }
                writersDone.accumulateAndGet(System.nanoTime(), Math::max);
              });
      t.start();
      threads.add(t);
    }

    long[] latencies = new long[(int) total];
    int received = 0;
    deadline = start + TimeUnit.SECONDS.toNanos(seconds + 60L);
    while (received < total && System.nanoTime() < deadline) {
      for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(50))) {
        final long now = System.nanoTime();
        if (r.key() != null && r.key().contains("probe")) continue;
        Matcher m = SENT_AT.matcher(r.value());
        if (m.find() && received < total) latencies[received++] = now - Long.parseLong(m.group(1));
      }
    }
    final double elapsed = (System.nanoTime() - start) / 1e9;
    for (Thread t : threads) t.join();
    final double inserted = total / ((writersDone.get() - start) / 1e9);
    engine.close();
    engineThread.shutdown();
    producer.close();
    consumer.close();
    if (failures.get() > 0 || received == 0) {
      System.err.println("writers failed: " + failures.get() + ", received " + received);
      System.exit(1);
    }
    long[] got = Arrays.copyOf(latencies, received);
    Arrays.sort(got);
    System.out.printf(
        "sent %d received %d rate %.0f inserted %.0f p50 %.1f p95 %.1f p99 %.1f max %.1f%n",
        total,
        received,
        received / elapsed,
        inserted,
        got[(int) (received * 0.50)] / 1e6,
        got[(int) (received * 0.95)] / 1e6,
        got[Math.min(received - 1, (int) (received * 0.99))] / 1e6,
        got[received - 1] / 1e6);
    System.exit(received == total ? 0 : 3);
  }

  // The same 200-byte JSON document as cairn's benchmarks, carrying the time it was written.
  static String payload(long sentAt, String filler) {
    String p = "{\"t\":" + sentAt + ",\"orderId\":\"order-0000042\",\"note\":\"" + filler;
    return p.substring(0, Math.min(p.length(), 197)) + "\"}";
  }

  static void insert(String jdbc, String aggregate, String key, long t, String filler)
      throws Exception {
    try (Connection c = DriverManager.getConnection(jdbc, "bench", "");
        PreparedStatement ps =
            c.prepareStatement(
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload)"
                    + " VALUES (?, ?, ?, 'OrderPlaced', ?)")) {
      ps.setObject(1, UUID.randomUUID());
      ps.setString(2, aggregate);
      ps.setString(3, key);
      ps.setString(4, payload(t, filler));
      ps.executeUpdate();
    }
  }
}
