import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.Header;
import io.debezium.engine.format.JsonByteArray;
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * The Debezium side of walcast's benchmarks (benches/src/debezium.rs compiles and starts it): the
 * real Debezium PostgreSQL connector in its embedded engine, every change event converted by Kafka
 * Connect's JsonConverter with schemas (the engine's JsonByteArray format, the bytes a Connect
 * worker puts on the wire) and sent with the Java KafkaProducer configured as a Connect worker
 * configures its source tasks' producers (ByteArraySerializer, acks=all,
 * max.in.flight.requests.per.connection=1, enable.idempotence=false, unbounded max.block.ms and
 * delivery.timeout.ms; every other setting at the producer's default unless PRODUCER.properties
 * sets it). Like a Connect source task, a batch is handed to the producer without waiting for its
 * acknowledgements.
 *
 * <p>Usage: java DebeziumBench CONNECTOR.properties PRODUCER.properties TOPIC RECORDS
 *
 * <p>Prints "first_record_ms=T" when the first event reaches the handler and "done acked=N
 * first_record_ms=T done_ms=U" (milliseconds since the JVM started main) once RECORDS events for
 * TOPIC are acknowledged, then keeps running (so its peak RSS can still be read) until stdin closes
 * or the process is killed. A failed send prints "error ..." and exits with status 2.
 */
public class DebeziumBench {
  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: DebeziumBench CONNECTOR.properties PRODUCER.properties TOPIC RECORDS");
      System.exit(64);
    }
    long t0 = System.nanoTime();
    Properties connector = load(args[0]);
    Properties producerProps = new Properties();
    producerProps.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    producerProps.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    producerProps.put("acks", "all");
    producerProps.put("max.in.flight.requests.per.connection", "1");
    producerProps.put("enable.idempotence", "false");
    producerProps.put("max.block.ms", Long.toString(Long.MAX_VALUE));
    producerProps.put("delivery.timeout.ms", Integer.toString(Integer.MAX_VALUE));
    producerProps.putAll(load(args[1]));
    String topic = args[2];
    long expected = Long.parseLong(args[3]);

    KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps);
    AtomicLong acked = new AtomicLong();
    AtomicLong firstRecord = new AtomicLong(-1);
    AtomicReference<Exception> failed = new AtomicReference<>();
    Object out = new Object();

    DebeziumEngine<ChangeEvent<byte[], byte[]>> engine = DebeziumEngine.create(JsonByteArray.class)
        .using(connector)
        .using((success, message, error) -> {
          // The engine stopped on its own (a connector failure); the bench stops it only by exiting.
          synchronized (out) {
            System.out.println("error the Debezium engine stopped: " + message + (error == null ? "" : " (" + error + ")"));
            System.out.flush();
          }
          System.exit(3);
        })
        .notifying((records, committer) -> {
          if (firstRecord.get() < 0 && firstRecord.compareAndSet(-1, ms(t0))) {
            synchronized (out) {
              System.out.println("first_record_ms=" + firstRecord.get());
              System.out.flush();
            }
          }
          for (ChangeEvent<byte[], byte[]> r : records) {
            ProducerRecord<byte[], byte[]> pr = new ProducerRecord<>(r.destination(), r.partition(), r.key(), r.value());
            for (Header<?> h : r.headers()) {
              Object v = h.getValue();
              byte[] bytes = v instanceof byte[] ? (byte[]) v : v == null ? null : v.toString().getBytes(StandardCharsets.UTF_8);
              pr.headers().add(new RecordHeader(h.getKey(), bytes));
            }
            boolean counted = topic.equals(r.destination());
            producer.send(pr, (meta, e) -> {
              if (e != null) {
                failed.compareAndSet(null, e);
                return;
              }
              if (counted && acked.incrementAndGet() == expected) {
                synchronized (out) {
                  System.out.println("done acked=" + expected + " first_record_ms=" + firstRecord.get() + " done_ms=" + ms(t0));
                  System.out.flush();
                }
              }
            });
            committer.markProcessed(r);
          }
          committer.markBatchFinished();
        })
        .build();
    ExecutorService ex = Executors.newSingleThreadExecutor();
    ex.execute(engine);
    // Runs until stdin closes (the bench is done with it) or a send fails.
    Thread watcher = new Thread(() -> {
      while (true) {
        Exception e = failed.get();
        if (e != null) {
          synchronized (out) {
            System.out.println("error sending to Kafka: " + e);
            System.out.flush();
          }
          System.exit(2);
        }
        try {
          Thread.sleep(100);
        } catch (InterruptedException ie) {
          return;
        }
      }
    });
    watcher.setDaemon(true);
    watcher.start();
    while (System.in.read() >= 0) {
      // drain until EOF
    }
    System.exit(0);
  }

  private static long ms(long t0) {
    return (System.nanoTime() - t0) / 1_000_000;
  }

  private static Properties load(String path) throws Exception {
    Properties p = new Properties();
    try (InputStream in = new FileInputStream(path)) {
      p.load(in);
    }
    return p;
  }
}
