using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices;

/// <summary>The <c>Acquisition</c> section of appsettings.json.</summary>
public sealed class AcquisitionOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Acquisition";

    /// <summary>Configured devices (<c>Acquisition:Devices</c>).</summary>
    [Required, MinLength(1, ErrorMessage = "Acquisition:Devices must list at least one device.")]
    [ValidateEnumeratedItems]
    public List<DeviceOptions> Devices { get; init; } = [];

    /// <summary>How often devices hand over a block, in milliseconds (a few ms keeps latency low).</summary>
    [Range(1, 100, ErrorMessage = "Acquisition:BlockMilliseconds must be between 1 and 100.")]
    public int BlockMilliseconds { get; init; } = 5;

    /// <summary>Most bytes the store queue may hold in memory before measurements are stopped.</summary>
    [Range(1_000_000, 8_000_000_000, ErrorMessage = "Acquisition:StoreQueueBytes must be between 1 MB and 8 GB.")]
    public long StoreQueueBytes { get; init; } = 512L * 1024 * 1024;
}

/// <summary>One device under <c>Acquisition:Devices</c>.</summary>
public sealed class DeviceOptions
{
    /// <summary>Stable id used in requests and stored with measurements.</summary>
    [Required(ErrorMessage = "Acquisition:Devices:N:Id is required."), RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "Acquisition:Devices:N:Id may only hold letters, digits, '_', '.', '-' (1–64).")]
    public string Id { get; init; } = "";

    /// <summary>Display name.</summary>
    public string? Name { get; init; }

    /// <summary>Driver kind: Simulated, SharedMemory, Network, Scpi.</summary>
    [Required]
    public string Driver { get; init; } = "Simulated";

    /// <summary>Seed of the simulated generator (runs are reproducible).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Per-channel signal settings of the simulated generator; channel i uses entry i mod count.</summary>
    public List<SimulatedChannelOptions> Channels { get; init; } = [];

    /// <summary>Probability per sample of an injected single-sample spike (an event is emitted with it).</summary>
    [Range(0.0, 0.01, ErrorMessage = "Acquisition:Devices:N:SpikeProbability must be between 0 and 0.01.")]
    public double SpikeProbability { get; init; } = 0.000_01;

    /// <summary>
    /// Network driver: address the collector listener binds to. The default keeps it on this machine;
    /// 0.0.0.0 (or ::) lets remote collectors in.
    /// </summary>
    [Required(ErrorMessage = "Acquisition:Devices:N:BindAddress is required.")]
    public string BindAddress { get; init; } = "127.0.0.1";

    /// <summary>Network driver: TCP port of the collector listener (0 = any free port).</summary>
    [Range(0, 65535, ErrorMessage = "Acquisition:Devices:N:TcpPort must be between 0 and 65535.")]
    public int TcpPort { get; init; } = 5700;

    /// <summary>Network driver: UDP port of the collector listener (0 = any free port, −1 = no UDP).</summary>
    [Range(-1, 65535, ErrorMessage = "Acquisition:Devices:N:UdpPort must be between -1 and 65535.")]
    public int UdpPort { get; init; } = 5700;

    /// <summary>Network driver: largest frame accepted (header, payload and CRC), checked before anything is allocated.</summary>
    [Range(4096, 16 * 1024 * 1024, ErrorMessage = "Acquisition:Devices:N:MaxFrameBytes must be between 4096 and 16777216.")]
    public int MaxFrameBytes { get; init; } = 1024 * 1024;

    /// <summary>Network driver: a TCP connection that sends nothing, not even a heartbeat, for this long is closed.</summary>
    [Range(1, 3600, ErrorMessage = "Acquisition:Devices:N:IdleTimeoutSeconds must be between 1 and 3600.")]
    public int IdleTimeoutSeconds { get; init; } = 30;

    /// <summary>Network driver: most collector TCP connections at once; more are refused.</summary>
    [Range(1, 10_000, ErrorMessage = "Acquisition:Devices:N:MaxConnections must be between 1 and 10000.")]
    public int MaxConnections { get; init; } = 256;

    /// <summary>
    /// Network driver: a TCP connection must present an accepted HELLO within this time of connecting,
    /// whatever it sends meanwhile, or it is closed (an anonymous peer cannot hold a slot).
    /// </summary>
    [Range(1, 60, ErrorMessage = "Acquisition:Devices:N:AuthTimeoutSeconds must be between 1 and 60.")]
    public int AuthTimeoutSeconds { get; init; } = 5;

    /// <summary>Network driver: most not yet authenticated TCP connections from one address; more are refused.</summary>
    [Range(1, 10_000, ErrorMessage = "Acquisition:Devices:N:MaxPreAuthConnectionsPerAddress must be between 1 and 10000.")]
    public int MaxPreAuthConnectionsPerAddress { get; init; } = 8;

    /// <summary>
    /// Network driver: how often a token in use is looked up again, so a revoked token stops open TCP
    /// connections and UDP senders within about this time (on every instance: the lookup asks the store).
    /// </summary>
    [Range(1, 600, ErrorMessage = "Acquisition:Devices:N:TokenRecheckSeconds must be between 1 and 600.")]
    public int TokenRecheckSeconds { get; init; } = 5;

    /// <summary>SharedMemory driver: the ring file the producer creates and maps, e.g. /dev/shm/measureapp-adc0 (docs/shared-memory.md).</summary>
    public string? Path { get; init; }

    /// <summary>SharedMemory driver: a producer heartbeat unchanged for this long is reported as stalled.</summary>
    [Range(100, 600_000, ErrorMessage = "Acquisition:Devices:N:HeartbeatTimeoutMilliseconds must be between 100 and 600000.")]
    public int HeartbeatTimeoutMilliseconds { get; init; } = 2000;

    #region Scpi driver (docs/instruments.md)

    /// <summary>Scpi driver: host name or address of the instrument's LAN port.</summary>
    public string? Host { get; init; }

    /// <summary>Scpi driver: TCP port of the instrument's raw SCPI socket (5025 by convention).</summary>
    [Range(1, 65535, ErrorMessage = "Acquisition:Devices:N:Port must be between 1 and 65535.")]
    public int Port { get; init; } = 5025;

    /// <summary>Scpi driver: longest wait for a connection or an answer; an instrument silent for longer is lost.</summary>
    [Range(10, 600_000, ErrorMessage = "Acquisition:Devices:N:TimeoutMilliseconds must be between 10 and 600000.")]
    public int TimeoutMilliseconds { get; init; } = 2000;

    /// <summary>Scpi driver: one query per channel per sample (Polled) or one block of samples per query (Block).</summary>
    [EnumDataType(typeof(ScpiMode), ErrorMessage = "Acquisition:Devices:N:Mode must be Polled or Block.")]
    public ScpiMode Mode { get; init; } = ScpiMode.Polled;

    /// <summary>Scpi driver: commands sent after connecting, in order (e.g. <c>*RST</c>, <c>CONF:VOLT:DC 10</c>).</summary>
    public List<string> InitCommands { get; init; } = [];

    /// <summary>
    /// Scpi driver: the query that reads the instrument's error queue after each command batch
    /// (empty: never asked, for instruments without one or for the last bit of speed).
    /// </summary>
    public string ErrorQuery { get; init; } = "SYST:ERR?";

    /// <summary>Scpi driver, Block mode: how the samples of a block are encoded.</summary>
    [EnumDataType(typeof(ScpiDataFormat), ErrorMessage = "Acquisition:Devices:N:DataFormat must be Ascii, Int8, UInt8, Int16LittleEndian, Int16BigEndian, UInt16LittleEndian, UInt16BigEndian, Float32LittleEndian or Float32BigEndian.")]
    public ScpiDataFormat DataFormat { get; init; } = ScpiDataFormat.Ascii;

    /// <summary>
    /// Scpi driver, Block mode: the samples' own spacing in seconds (a scope's <c>:WAV:XINC?</c>, a DMM's
    /// <c>SAMP:TIM</c>). A measurement must run at 1 / this rate; 0 means the measurement's rate is the spacing.
    /// </summary>
    [Range(0.0, 3600.0, ErrorMessage = "Acquisition:Devices:N:SampleIntervalSeconds must be between 0 and 3600.")]
    public double SampleIntervalSeconds { get; init; }

    /// <summary>Scpi driver, Block mode: largest block accepted, checked against its header before anything is read.</summary>
    [Range(16, 256 * 1024 * 1024, ErrorMessage = "Acquisition:Devices:N:MaxBlockBytes must be between 16 and 268435456.")]
    public int MaxBlockBytes { get; init; } = 16 * 1024 * 1024;

    #endregion

    #region Sigrok driver
    // Channel names for sigrok are the Name of each Channels entry (e.g. A0, A1 of the demo device), so
    // measurements show the device's own channel names and units.

    /// <summary>Sigrok driver: the libsigrok driver and its options as <c>sigrok-cli --driver</c> takes them, e.g. <c>demo</c>, <c>fx2lafw</c>, <c>uni-t-ut61e:conn=1a86.e008</c>.</summary>
    [RegularExpression(@"^[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_]{1,32}=[^\s:]{1,128})*$", ErrorMessage = "Acquisition:Devices:N:SigrokDriver must look like driver or driver:key=value (e.g. demo, uni-t-ut61e:conn=1a86.e008).")]
    public string? SigrokDriver { get; init; }

    /// <summary>Sigrok driver: device options as <c>sigrok-cli --config</c> takes them (<c>key=value:key=value</c>); <c>samplerate</c> defaults to the measurement's rate.</summary>
    [RegularExpression(@"^([A-Za-z0-9_]{1,32}=[^\s:]{1,128})(:[A-Za-z0-9_]{1,32}=[^\s:]{1,128})*$", ErrorMessage = "Acquisition:Devices:N:Config must look like key=value:key=value (e.g. samplerate=1000).")]
    public string? Config { get; init; }
    #endregion
}

/// <summary>Waveforms of the simulated generator.</summary>
public enum Waveform
{
    /// <summary>sin(2πft)</summary>
    Sine,
    /// <summary>±1 square wave.</summary>
    Square,
    /// <summary>Triangle between −1 and 1.</summary>
    Triangle,
    /// <summary>Rising ramp from −1 to 1.</summary>
    Sawtooth,
    /// <summary>Linear sweep from f to 10·f over one second, repeated.</summary>
    Chirp,
    /// <summary>0 until 1/f seconds, then 1.</summary>
    Step,
    /// <summary>Uniform white noise in [−1, 1].</summary>
    Noise,
}

/// <summary>Signal of one simulated channel.</summary>
public sealed class SimulatedChannelOptions
{
    /// <summary>Channel name.</summary>
    public string? Name { get; init; }
    /// <summary>Physical unit.</summary>
    public string Unit { get; init; } = "V";
    /// <summary>Waveform.</summary>
    public Waveform Waveform { get; init; } = Waveform.Sine;
    /// <summary>Peak amplitude.</summary>
    public double Amplitude { get; init; } = 1;
    /// <summary>Frequency in Hz.</summary>
    public double Frequency { get; init; } = 5;
    /// <summary>Constant offset.</summary>
    public double Offset { get; init; }
    /// <summary>Peak amplitude of added uniform noise.</summary>
    public double Noise { get; init; }

    /// <summary>Scpi driver: the query that reads this channel (Polled: one reading, Block: one block), e.g. <c>MEAS:VOLT:DC?</c>.</summary>
    public string? Query { get; init; }

    /// <summary>Scpi driver: factor applied to every reading or raw block code before <see cref="Offset"/> is added.</summary>
    public double Scale { get; init; } = 1;
}

/// <summary>How the Scpi driver reads samples.</summary>
public enum ScpiMode
{
    /// <summary>One query per channel per sample, paced at the measurement's rate.</summary>
    Polled,
    /// <summary>One query per channel returns a block of samples (IEEE 488.2 definite-length block or a comma-separated list).</summary>
    Block,
}

/// <summary>Encoding of the samples in a SCPI block answer.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The names are the data formats written in appsettings.json (int8, uint8).")]
public enum ScpiDataFormat
{
    /// <summary>Comma-separated numbers (a plain line or inside a definite-length block).</summary>
    Ascii,
    /// <summary>Signed bytes.</summary>
    Int8,
    /// <summary>Unsigned bytes (e.g. Rigol <c>:WAV:FORM BYTE</c>).</summary>
    UInt8,
    /// <summary>Signed 16-bit, least significant byte first.</summary>
    Int16LittleEndian,
    /// <summary>Signed 16-bit, most significant byte first.</summary>
    Int16BigEndian,
    /// <summary>Unsigned 16-bit, least significant byte first.</summary>
    UInt16LittleEndian,
    /// <summary>Unsigned 16-bit, most significant byte first.</summary>
    UInt16BigEndian,
    /// <summary>IEEE 754 single precision, least significant byte first.</summary>
    Float32LittleEndian,
    /// <summary>IEEE 754 single precision, most significant byte first.</summary>
    Float32BigEndian,
}
