using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeasureApp.Acquisition.Devices;

namespace MeasureApp.Devices;

/// <summary>One input of the device form: a <see cref="DeviceOptions"/> property, its label and help.</summary>
public sealed record DeviceField(string Property, string Label, string Help);

/// <summary>
/// The driver-aware device form as plain strings (what the inputs hold), turned into
/// <see cref="DeviceOptions"/> through the same JSON shape as appsettings.json, so every setting a
/// driver adds is reachable (the "More settings" JSON) before it gets its own input.
/// </summary>
public sealed class DeviceForm
{
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
        // Scpi: its fields arrive with the SCPI driver's DeviceOptions additions; until then they go into
        // "More settings (JSON)" below, which accepts any DeviceOptions property.
        ["Scpi"] = [],
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

    /// <summary>Any further DeviceOptions properties as a JSON object.</summary>
    public string? MoreJson { get; set; }

    /// <summary>The inputs of the chosen driver.</summary>
    public IReadOnlyList<DeviceField> Fields => FieldsByDriver.TryGetValue(Driver, out var f) ? f : [];

    /// <summary>True when Channels is a list of sigrok names rather than JSON.</summary>
    public bool ChannelsAreNames => Driver == "Sigrok";

    /// <summary>A form holding <paramref name="device"/>.</summary>
    public static DeviceForm From(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var form = new DeviceForm { Driver = device.Driver, Id = device.Id, Name = device.Name };
        foreach (var f in form.Fields)
        {
            form.Values[f.Property] = Convert.ToString(Property(f.Property).GetValue(device), CultureInfo.InvariantCulture);
        }
        form.Channels = form.ChannelsAreNames
            ? string.Join(", ", device.Channels.Select(c => c.Unit == "V" ? c.Name : $"{c.Name}:{c.Unit}"))
            : device.Channels.Count == 0 ? null : JsonSerializer.Serialize(device.Channels, DeviceJson.Options);
        if (!FieldsByDriver.ContainsKey(device.Driver) || device.Driver == "Scpi")
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
            if (Values.TryGetValue(f.Property, out var raw) && !string.IsNullOrWhiteSpace(raw))
            {
                var type = Property(f.Property).PropertyType;
                var text = raw.Trim();
                if (type == typeof(int))
                {
                    if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)) { json[f.Property] = i; }
                    else { errors.Add(new DeviceFieldError(f.Property, $"{f.Property} must be a whole number (got '{text}').")); }
                }
                else if (type == typeof(double))
                {
                    if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) { json[f.Property] = d; }
                    else { errors.Add(new DeviceFieldError(f.Property, $"{f.Property} must be a number (got '{text}').")); }
                }
                else
                {
                    json[f.Property] = text;
                }
            }
        }
        if (!string.IsNullOrWhiteSpace(Channels))
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

    private static PropertyInfo Property(string name) =>
        typeof(DeviceOptions).GetProperty(name) ?? throw new InvalidOperationException($"DeviceOptions has no property {name}.");
}
