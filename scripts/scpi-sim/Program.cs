using System.Globalization;
using System.Net;
using MeasureApp.ScpiSim;

// scpi-sim: a SCPI DMM + scope on a loopback port for tests and demos (see docs/instruments.md).
const string Usage = """
    usage: dotnet run --project scripts/scpi-sim -- [options]
      --port N            TCP port (default 5025; 0 = any free port, printed on start)
      --bind ADDRESS      address to listen on (default 127.0.0.1)
      --identity TEXT     the *IDN? answer
      --max-rate R        most DMM readings per second per connection (default: unlimited)
      --drop-after N      close a connection at its N-th command (default: never)
      --error-every N     queue error -230 with every N-th reading (default: never)
      --scope-interval S  scope sample interval in seconds reported by :WAV:XINC? (default 1e-4)
    Commands: *IDN? *RST *CLS *OPC? SYST:ERR? CONF:VOLT:DC CONF:CURR:DC MEAS:VOLT:DC? MEAS:CURR:DC? READ?
              SAMP:COUN n  :WAV:SOUR CHANn :WAV:FORM BYTE|UBYT|WORD|FLO|ASC :WAV:BYT LSBF|MSBF :WAV:POIN n
              :WAV:XINC? :WAV:DATA?  SIM:DROP (closes the connection)  SIM:INJ BADH|SHORT|OVER|GARB
    """;

var options = new ScpiSimulatorOptions { Port = 5025 };
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    try
    {
        options = args[i] switch
        {
            "--port" => options with { Port = int.Parse(Next(), CultureInfo.InvariantCulture) },
            "--bind" => options with { BindAddress = IPAddress.Parse(Next()) },
            "--identity" => options with { Identity = Next() },
            "--max-rate" => options with { MaxReadingsPerSecond = double.Parse(Next(), CultureInfo.InvariantCulture) },
            "--drop-after" => options with { DropAfterCommands = int.Parse(Next(), CultureInfo.InvariantCulture) },
            "--error-every" => options with { ErrorEveryReadings = int.Parse(Next(), CultureInfo.InvariantCulture) },
            "--scope-interval" => options with { ScopeSampleInterval = double.Parse(Next(), CultureInfo.InvariantCulture) },
            "-h" or "--help" => throw new OperationCanceledException(),
            _ => throw new ArgumentException($"Unknown option {args[i]}."),
        };
    }
    catch (OperationCanceledException)
    {
        Console.WriteLine(Usage);
        return 0;
    }
    catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
    {
        await Console.Error.WriteLineAsync(ex.Message);
        await Console.Error.WriteLineAsync(Usage);
        return 2;
    }
}

await using var simulator = new ScpiSimulator(options);
simulator.Start();
// Tests read this line to learn the port (with --port 0).
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scpi-sim listening on {options.BindAddress}:{simulator.Port}"));
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
    // Ctrl+C or SIGTERM.
}
return 0;
