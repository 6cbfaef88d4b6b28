// pgjdbc: two connections run their PreparedStatements past prepareThreshold
// (default 5: from the fifth execution on, pgjdbc uses named server-side
// statements S_1, S_2, ... on each connection), interleaved, in and out of
// a transaction. Zero errors, right rows. Connection settings come from
// PGHOST, PGPORT, PGDATABASE, PGUSER (tests/drivers/harness.py).
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class PreparedThreshold {
  static final List<String> failures = new ArrayList<>();

  static Connection connect() throws SQLException {
    String host = System.getenv("PGHOST");
    String port = System.getenv("PGPORT");
    Properties props = new Properties();
    props.setProperty("user", System.getenv("PGUSER"));
    String url = "jdbc:postgresql://" + host + ":" + port + "/" + System.getenv("PGDATABASE");
    return DriverManager.getConnection(url, props);
  }

  static void expect(boolean ok, String what) {
    if (!ok) {
      failures.add(what);
      System.err.println("FAIL: " + what);
    }
  }

  public static void main(String[] args) throws Exception {
    try (Connection setup = connect(); Statement st = setup.createStatement()) {
      st.execute("create table words (id int primary key, word text)");
      st.execute("insert into words select g, 'word ' || g from generate_series(1, 50) g");
    }
    Connection a = connect();
    Connection b = connect();
    // The same two statements, created in opposite orders: A's S_1 is B's S_2.
    PreparedStatement aWord = a.prepareStatement("select id, word from words where id = ?");
    PreparedStatement aCount = a.prepareStatement("select count(*) from words where id <= ?");
    PreparedStatement bCount = b.prepareStatement("select count(*) from words where id <= ?");
    PreparedStatement bWord = b.prepareStatement("select id, word from words where id = ?");
    for (int i = 1; i <= 20; ++i) {
      if (i == 10) {
        // A transaction of A in the middle: only A runs inside it (on
        // pgthaw B's statements would wait for its end).
        a.setAutoCommit(false);
        for (int k = 1; k <= 3; ++k) {
          checkWord(aWord, k, "A in a transaction");
          checkCount(aCount, k, "A in a transaction");
        }
        a.commit();
        a.setAutoCommit(true);
      }
      checkWord(aWord, i, "A");
      checkCount(bCount, i, "B");
      checkCount(aCount, i, "A");
      checkWord(bWord, i, "B");
    }
    expect(aWord.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(),
        "A's statement is server-prepared past the threshold");
    a.close();
    b.close();
    if (!failures.isEmpty()) {
      System.err.println(failures.size() + " check(s) failed");
      System.exit(1);
    }
    System.out.println("ok");
  }

  static void checkWord(PreparedStatement ps, int id, String conn) {
    try {
      ps.setInt(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        expect(rs.next() && rs.getInt(1) == id && rs.getString(2).equals("word " + id) && !rs.next(),
            conn + " word " + id + ": wrong rows");
      }
    } catch (SQLException e) {
      expect(false, conn + " word " + id + ": " + e.getSQLState() + " " + e.getMessage());
    }
  }

  static void checkCount(PreparedStatement ps, int n, String conn) {
    try {
      ps.setInt(1, n);
      try (ResultSet rs = ps.executeQuery()) {
        expect(rs.next() && rs.getLong(1) == n && !rs.next(), conn + " count " + n + ": wrong rows");
      }
    } catch (SQLException e) {
      expect(false, conn + " count " + n + ": " + e.getSQLState() + " " + e.getMessage());
    }
  }
}
