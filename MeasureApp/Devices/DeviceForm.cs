using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeasureApp.Acquisition.Devices;

namespace MeasureApp.Devices;

/// <summary>One input of the device form: a <see cref="DeviceOptions"/> property, its label and help.</summary>
/// <param name="Property">The <see cref="DeviceOptions"/> property it edits (also the input's id suffix and the error's field).</param>
/// <param name="Label">What the input says.</param>
/// <param name="Help">The helper text under it.</param>
public sealed record DeviceField(string Property, string Label, string Help)
{
    /// <summary>When set, the input is a select of these values (an enum's names).</summary>
    public IReadOnlyList<string>? Choices { get; init; }

    /// <summary>Text lines of the input (a list property takes one entry per line).</summary>
    public int Lines { get; init; } = 1;

    /// <summary>Shown only in SCPI Block mode (the block's format and spacing mean nothing when polled).</summary>
    public bool BlockModeOnly { get; init; }
}

/// <summary>One row of the SCPI channel table, as the inputs hold it.</summary>
public sealed class ScpiChannelRow
{
    /// <summary>Channel name shown on charts and exports.</summary>
    public string? Name { get; set; }

    /// <summary>Physical unit.</summary>
    public string? Unit { get; set; } = "V";

    /// <summary>The query that reads the channel (Polled: one reading, Block: one block).</summary>
    public string? Query { get; set; }

    /// <summary>Factor applied to every reading or raw code.</summary>
    public string? Scale { get; set; } = "1";

    /// <summary>Added after scaling.</summary>
    public string? Offset { get; set; } = "0";
}

/// <summary>
/// The driver-aware device form as plain strings (what the inputs hold), turned into
/// <see cref="DeviceOptions"/> through the same JSON shape as appsettings.json, so every setting a
/// driver adds is reachable (the advanced JSON box) before it gets its own input.
/// </summary>
public sealed class DeviceForm
{
    private const string Scpi = "Scpi";

    /// <summary>The inputs each driver shows besides Id, Name and Channels.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<DeviceField>> FieldsByDriver = new Dictionary<string, IReadOnlyList<DeviceField>>(StringComparer.Ordinal)
    {
        ["Simulated"] = [new("Seed", "Seed", "same seed, same signal"), new("SpikeProbability", "Spike probability", "per sample, 0 – 0.01")],
        ["SharedMemory"] = [new("Path", "Ring file", "e.g. /dev/shm/measureapp-adc0"), new("HeartbeatTimeoutMilliseconds", "Heartbeat timeout [ms]", "100 – 600000")],
        ["Network"] =
        [
            new("BindAddress", "Bind address", "127.0.0.1 keeps collectors local; 0.0.0.0 lets remote ones in"),
            new("TcpPort", "TCP port", "0 = any free port"), new("UdpPort", "UDP port", "0 = any free port, -1 = no UDP"),
            new("MaxFrameBytes", "Largest frame [bytes]", "4096 – 16777216"), new("IdleTimeoutSeconds", "Idle timeout [s]", "1 – 3600"),
            new("MaxConnections", "Most connections", "1 – 10000"),
        ],
        ["Sigrok"] = [new("SigrokDriver", "sigrok driver", "demo, fx2lafw, uni-t-ut61e:conn=1a86.e008 — or pick one from Scan"), new("Config", "Config", "key=value:key=value; samplerate defaults to the measurement's rate")],
        [Scpi] =
        [
            new("Host", "Host", "the instrument's LAN address, e.g. 192.168.1.50"),
            new("Port", "Port", "raw SCPI socket, 5025 by convention"),
            new("TimeoutMilliseconds", "Timeout [ms]", "connect and each answer, 10 – 600000"),
            new("Mode", "Mode", "Polled: one query per channel per sample; Block: one block of samples per query") { Choices = Enum.GetNames<ScpiMode>() },
            new("ErrorQuery", "Error query", "read after each command batch; empty = never"),
            new("InitCommands", "Init commands", "one per line, sent after connecting (e.g. *RST, CONF:VOLT:DC 10)") { Lines = 3 },
            new("DataFormat", "Data format", "how the block's samples are encoded") { Choices = Enum.GetNames<ScpiDataFormat>(), BlockModeOnly = true },
            new("SampleIntervalSeconds", "Sample spacing [s]", "the samples' own spacing (a scope's :WAV:XINC?); 0 = the measurement's rate") { BlockModeOnly = true },
            new("MaxBlockBytes", "Largest block [bytes]", "16 – 268435456") { BlockModeOnly = true },
        ],
    };

    /// <summary>Driver kind.</summary>
    public string Driver { get; set; } = "Simulated";

    /// <summary>Device id.</summary>
    public string? Id { get; set; }

    /// <summary>Display name.</summary>
    public string? Name { get; set; }

    /// <summary>The driver's fields by property name.</summary>
    public Dictionary<string, string?> Values { get; } = new(StringComparer.Ordinal);

    /// <summary>Sigrok: channel names (<c>A0, A1</c>, optionally with unit <c>P1:A</c>); other drivers: the Channels JSON list.</summary>
    public string? Channels { get; set; }

    /// <summary>Scpi: the channel table, one row per channel.</summary>
    public List<ScpiChannelRow> ScpiChannels { get; } = [];

    /// <summary>Any further DeviceOptions properties as a JSON object.</summary>
    public string? MoreJson { get; set; }

    /// <summary>The inputs of the chosen driver (SCPI block fields only in Block mode).</summary>
    public IReadOnlyList<DeviceField> Fields => FieldsByDriver.TryGetValue(Driver, out var f)
        ? [.. f.Where(x => !x.BlockModeOnly || IsBlockMode)]
        : [];

    /// <summary>True when Channels is a list of sigrok names rather than JSON.</summary>
    public bool ChannelsAreNames => Driver == "Sigrok";

    /// <summary>True when the channels are the SCPI table rather than a text box.</summary>
    public bool ChannelsAreTable => Driver == Scpi;

    private bool IsBlockMode => Driver == Scpi && string.Equals(Values.GetValueOrDefault("Mode"), nameof(ScpiMode.Block), StringComparison.OrdinalIgnoreCase);

    /// <summary>An empty form for <paramref name="driver"/>, its inputs holding the driver's defaults (a SCPI form starts with one DMM channel).</summary>
    public static DeviceForm New(string driver)
    {
        var form = From(new DeviceOptions { Driver = driver });
        form.Id = null;
        if (form.ChannelsAreTable)
        {
            form.ScpiChannels.Add(new ScpiChannelRow { Name = "ch1", Query = "MEAS:VOLT:DC?" });
        }
        return form;
    }

    /// <summary>A form holding <paramref name="device"/>.</summary>
    public static DeviceForm From(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var form = new DeviceForm { Driver = device.Driver, Id = device.Id, Name = device.Name };
        if (FieldsByDriver.TryGetValue(device.Driver, out var fields))
        {
            foreach (var f in fields)
            {
                var value = Property(f.Property).GetValue(device);
                form.Values[f.Property] = value is IEnumerable<string> lines ? string.Join("\n", lines) : Convert.ToString(value, CultureInfo.InvariantCulture);
            }
        }
        if (form.ChannelsAreTable)
        {
            form.ScpiChannels.AddRange(device.Channels.Select(c => new ScpiChannelRow
            {
                Name = c.Name,
                Unit = c.Unit,
                Query = c.Query,
                Scale = c.Scale.ToString(CultureInfo.InvariantCulture),
                Offset = c.Offset.ToString(CultureInfo.InvariantCulture),
            }));
        }
        else
        {
            form.Channels = form.ChannelsAreNames
                ? string.Join(", ", device.Channels.Select(c => c.Unit == "V" ? c.Name : $"{c.Name}:{c.Unit}"))
                : device.Channels.Count == 0 ? null : JsonSerializer.Serialize(device.Channels, DeviceJson.Options);
        }
        if (!FieldsByDriver.ContainsKey(device.Driver))
        {
            // No dedicated inputs: show every setting as JSON so an edit keeps them.
            var all = JsonSerializer.SerializeToNode(device, DeviceJson.Options)!.AsObject();
            foreach (var skip in new[] { "Id", "Name", "Driver", "Channels" })
            {
                all.Remove(skip);
            }
            form.MoreJson = all.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        }
        return form;
    }

    /// <summary>The settings the form describes, or the fields that could not be read (each named).</summary>
    public (DeviceOptions? Device, IReadOnlyList<DeviceFieldError> Errors) ToOptions()
    {
        var errors = new List<DeviceFieldError>();
        var json = new JsonObject
        {
            [nameof(DeviceOptions.Id)] = Id?.Trim() ?? "",
            [nameof(DeviceOptions.Name)] = string.IsNullOrWhiteSpace(Name) ? null : Name.Trim(),
            [nameof(DeviceOptions.Driver)] = Driver,
        };
        if (!string.IsNullOrWhiteSpace(MoreJson))
        {
            try
            {
                foreach (var (k, v) in JsonNode.Parse(MoreJson)!.AsObject())
                {
                    json[k] = v?.DeepClone();
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                errors.Add(new DeviceFieldError("MoreJson", $"More settings must be a JSON object ({ex.Message})."));
            }
        }
        foreach (var f in Fields)
        {
            var raw = Values.GetValueOrDefault(f.Property);
            var type = Property(f.Property).PropertyType;
            if (type == typeof(List<string>))
            {
                // One entry per line; blank lines are spacing, not commands.
                json[f.Property] = new JsonArray([.. (raw ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).Select(l => (JsonNode)l)]);
            }
            else if (type == typeof(string) && f.Property == nameof(DeviceOptions.ErrorQuery))
            {
                // Empty is a setting of its own here (never ask), not "use the default".
                json[f.Property] = raw?.Trim() ?? "";
            }
            else if (!string.IsNullOrWhiteSpace(raw))
            {
                var text = raw.Trim();
                if (Number(f.Property, f.Property, type, text, errors) is { } number)
                {
                    json[f.Property] = number;
                }
            }
        }
        if (ChannelsAreTable)
        {
            var rows = new JsonArray();
            for (var i = 0; i < ScpiChannels.Count; i++)
            {
                var row = ScpiChannels[i];
                var at = string.Create(CultureInfo.InvariantCulture, $"Channels:{i}");
                var channel = new JsonObject
                {
                    [nameof(SimulatedChannelOptions.Name)] = string.IsNullOrWhiteSpace(row.Name) ? string.Create(CultureInfo.InvariantCulture, $"ch{i + 1}") : row.Name.Trim(),
                    [nameof(SimulatedChannelOptions.Unit)] = string.IsNullOrWhiteSpace(row.Unit) ? "V" : row.Unit.Trim(),
                    [nameof(SimulatedChannelOptions.Query)] = row.Query?.Trim(),
                };
                foreach (var (property, text) in new[] { (nameof(SimulatedChannelOptions.Scale), row.Scale), (nameof(SimulatedChannelOptions.Offset), row.Offset) })
                {
                    if (!string.IsNullOrWhiteSpace(text) && Number($"{at}:{property}", $"{at}:{property}", typeof(double), text.Trim(), errors) is { } number)
                    {
                        channel[property] = number;
                    }
                }
                rows.Add(channel);
            }
            json[nameof(DeviceOptions.Channels)] = rows;
        }
        else if (!string.IsNullOrWhiteSpace(Channels))
        {
            if (ChannelsAreNames)
            {
                json[nameof(DeviceOptions.Channels)] = new JsonArray([.. Channels.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(c => c.Split(':', 2))
                    .Select(p => (JsonNode)new JsonObject { [nameof(SimulatedChannelOptions.Name)] = p[0], [nameof(SimulatedChannelOptions.Unit)] = p.Length > 1 ? p[1] : "V" })]);
            }
            else
            {
                try
                {
                    json[nameof(DeviceOptions.Channels)] = JsonNode.Parse(Channels)!.AsArray();
                }
                catch (Exception ex) when (ex is JsonException or InvalidOperationException)
                {
                    errors.Add(new DeviceFieldError("Channels", $"Channels must be a JSON list like [{{\"Name\":\"ch1\",\"Waveform\":\"Sine\",\"Frequency\":5}}] ({ex.Message})."));
                }
            }
        }
        if (errors.Count > 0)
        {
            return (null, errors);
        }
        try
        {
            return (json.Deserialize<DeviceOptions>(DeviceJson.Options), []);
        }
        catch (JsonException ex)
        {
            var field = ex.Path?.TrimStart('$', '.').Split('.', '[')[0] is { Length: > 0 } p ? p : "MoreJson";
            return (null, [new DeviceFieldError(field, $"{field} has a value of the wrong kind ({ex.Message}).")]);
        }
    }

    // A typed input's text as a JSON number or enum name; a refusal names the field.
    private static JsonNode? Number(string field, string label, Type type, string text, List<DeviceFieldError> errors)
    {
        if (type == typeof(int))
        {
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
            {
                return i;
            }
            errors.Add(new DeviceFieldError(field, $"{label} must be a whole number (got '{text}')."));
            return null;
        }
        if (type == typeof(double))
        {
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
            {
                return d;
            }
            errors.Add(new DeviceFieldError(field, $"{label} must be a number (got '{text}')."));
            return null;
        }
        if (type.IsEnum)
        {
            if (Enum.GetNames(type).FirstOrDefault(n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase)) is { } name)
            {
                return name;
            }
            errors.Add(new DeviceFieldError(field, $"{label} must be one of {string.Join(", ", Enum.GetNames(type))} (got '{text}')."));
            return null;
        }
        return text;
    }

    private static PropertyInfo Property(string name) =>
        typeof(DeviceOptions).GetProperty(name) ?? throw new InvalidOperationException($"DeviceOptions has no property {name}.");
}
